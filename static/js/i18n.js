// Every string of the driver page, French first. t('key', {n: 3}) fills {n}.
const STRINGS = {
  fr: {
    skip: 'Aller à la carte',
    search: 'Rechercher une commune, un code postal, une adresse',
    searchBtn: 'Rechercher',
    searchNone: 'Aucun résultat.',
    searchShort: 'Tapez au moins deux caractères.',
    locate: 'Me localiser',
    locating: 'Localisation…',
    locateDenied: 'Localisation refusée : autorisez-la dans votre navigateur ou cherchez une commune.',
    locateFail: 'Position introuvable pour le moment. Réessayez ou cherchez une commune.',
    locateNone: 'Votre navigateur ne sait pas vous localiser.',
    filters: 'Filtres',
    list: 'Liste',
    account: 'Compte',
    menu: 'Menu',
    lang: 'English',
    close: 'Fermer',
    map: 'Carte des bornes de recharge',
    mapHint: 'Zoomez pour voir les stations. La liste donne les mêmes stations au clavier.',
    loading: 'Chargement…',
    retry: 'Réessayer',
    network: 'Réseau indisponible. Vérifiez votre connexion puis réessayez.',
    offline: 'Hors ligne : données affichées depuis le dernier passage.',
    // statuses
    st_available: 'Libre', st_reserved: 'Réservé', st_in_use: 'En charge', st_out_of_order: 'Hors service', st_unknown: 'Inconnu',
    st_occupied: 'Occupé', st_out_of_service: 'Hors service',
    updated: 'mis à jour il y a {n} min', updatedH: 'mis à jour il y a {n} h', updatedD: 'mis à jour il y a {n} j',
    stale: 'donnée ancienne',
    source: 'source : {s}',
    // sheet
    station: 'Station',
    points: 'Points de recharge',
    address: 'Adresse', operator: 'Opérateur', network_: 'Réseau', hours: 'Horaires', access: 'Accès',
    payment: 'Paiement', pricing: 'Tarif', pmr: 'Accessibilité PMR', height: 'Gabarit', twoWheeler: 'Deux-roues',
    open247: 'Ouvert 24 h/24, 7 j/7',
    yes: 'oui', no: 'non', unknown: 'non renseigné',
    free: 'Gratuit', payAct: 'paiement à l’acte', card: 'carte bancaire',
    directions: 'Itinéraire',
    directionsOsm: 'Itinéraire (OpenStreetMap)',
    report: 'Signaler un problème',
    reportTitle: 'Signaler un problème',
    reportCat: 'Problème',
    rc_not_working: 'Ne fonctionne pas', rc_blocked: 'Place occupée par une voiture', rc_payment_refused: 'Paiement refusé',
    rc_works: 'Travaux', rc_other: 'Autre',
    reportMsg: 'Précisions (facultatif)',
    reportSend: 'Envoyer le signalement',
    reportDone: 'Merci : votre signalement a été transmis à l’équipe.',
    loginToReport: 'Connectez-vous pour signaler un problème.',
    // list
    listTitle: 'Stations dans la zone affichée',
    listEmpty: 'Aucune station dans cette zone : dézoomez ou déplacez la carte.',
    listCount: '{n} stations',
    listMore: 'Les 100 premières stations sont listées : zoomez pour affiner.',
    listFree: '{a}/{t} libres',
    // filters
    filtersTitle: 'Filtres',
    minPower: 'Puissance minimale',
    anyPower: 'Toutes',
    connectors: 'Prises',
    c_ef: 'E/F (domestique)', c_type_2: 'Type 2', c_combo_ccs: 'Combo CCS', c_chademo: 'CHAdeMO', c_autre: 'Autre',
    price: 'Prix',
    p_any: 'Indifférent', p_free: 'Gratuit', p_paid: 'Payant',
    f_pay_as_you_go: 'Paiement à l’acte', f_card: 'Carte bancaire', f_open_24_7: 'Ouvert 24/7', f_pmr: 'Accessible PMR',
    f_free_access: 'Accès libre', f_two_wheeler: 'Deux-roues', f_t2_cable: 'Câble T2 attaché', f_available_now: 'Libre maintenant',
    apply: 'Appliquer', reset: 'Tout effacer', options: 'Critères',
    activeFilters: '{n} filtre(s) actif(s)',
    profiles: 'Mes profils de filtres',
    profileName: 'Nom du profil',
    profileSave: 'Enregistrer ces filtres',
    profileApply: 'Appliquer',
    profileDelete: 'Supprimer',
    profileSaved: 'Profil enregistré.',
    myCar: 'Ma voiture : seulement les prises compatibles',
    effective: '{kw} pour {car}', incompatible: 'prise incompatible avec votre véhicule',
    // account
    login: 'Se connecter', logout: 'Se déconnecter', register: 'Créer un compte',
    email: 'Adresse e-mail', password: 'Mot de passe', firstName: 'Prénom', lastName: 'Nom',
    pwHint: '10 caractères au minimum.',
    haveAccount: 'Déjà un compte ? Se connecter', noAccount: 'Pas de compte ? En créer un',
    hello: 'Bonjour {name}',
    vehicles: 'Mes véhicules', vehicleAdd: 'Ajouter un véhicule', vehicleEdit: 'Modifier', vehicleDelete: 'Supprimer',
    vehicleName: 'Nom du véhicule', plate: 'Immatriculation (facultatif)', battery: 'Batterie (kWh)',
    maxAc: 'Puissance AC max (kW)', maxDc: 'Puissance DC max (kW)', save: 'Enregistrer', cancel: 'Annuler',
    noVehicle: 'Aucun véhicule : ajoutez-en un pour réserver.',
    pickConnector: 'Choisissez au moins une prise.',
    history: 'Mes réservations', historyEmpty: 'Aucune réservation pour l’instant.',
    // booking
    book: 'Réserver', bookTitle: 'Réserver un point',
    bookPoint: 'Point libre et compatible', bookVehicle: 'Véhicule',
    bookNone: 'Aucun point libre compatible avec ce véhicule en ce moment.',
    bookLogin: 'Connectez-vous pour réserver un point.',
    bookNotReservable: 'non réservable',
    bookConfirm: 'Confirmer la réservation', bookTerms: 'Conditions de réservation',
    bookDone: 'Point réservé pour {n} minutes.',
    countdownLabel: 'Temps restant pour démarrer la charge avant la libération du point',
    start: 'Démarrer la charge', stop: 'Arrêter la charge', cancelBooking: 'Annuler la réservation',
    cancelConfirm: 'Annuler cette réservation ? Le point sera libéré.',
    bs_reserved: 'Réservé', bs_charging: 'En charge', bs_completed: 'Terminée', bs_expired: 'Expirée', bs_cancelled: 'Annulée',
    elapsed: 'Durée', soc: 'Batterie', energy: 'Énergie', powerNow: 'Puissance', estEnd: 'Fin estimée',
    log: 'Journal de la borne',
    receipt: 'Reçu', receiptEnergy: 'Énergie livrée', receiptDuration: 'Durée de charge', receiptAvg: 'Puissance moyenne',
    receiptSoc: 'Batterie', receiptPoint: 'Point', receiptReason: 'Fin',
    waitingReceipt: 'Reçu en préparation…',
    dismiss: 'Fermer le reçu',
    expiredMsg: 'La réservation a expiré : le point a été libéré.',
    details: 'Détails',
    // 101
    r101: 'Recharger 101',
    zoomIn: 'Zoomer', zoomOut: 'Dézoomer',
    about: 'À propos',
  },
  en: {
    skip: 'Skip to the map',
    search: 'Search a town, a postcode, an address',
    searchBtn: 'Search',
    searchNone: 'No results.',
    searchShort: 'Type at least two characters.',
    locate: 'Locate me',
    locating: 'Locating…',
    locateDenied: 'Location refused: allow it in your browser or search a town.',
    locateFail: 'Position not available right now. Try again or search a town.',
    locateNone: 'Your browser cannot locate you.',
    filters: 'Filters', list: 'List', account: 'Account', menu: 'Menu', lang: 'Français', close: 'Close',
    map: 'Map of charging stations',
    mapHint: 'Zoom in to see stations. The list gives the same stations by keyboard.',
    loading: 'Loading…', retry: 'Retry',
    network: 'Network unavailable. Check your connection and retry.',
    offline: 'Offline: showing data from your last visit.',
    st_available: 'Available', st_reserved: 'Reserved', st_in_use: 'In use', st_out_of_order: 'Out of order', st_unknown: 'Unknown',
    st_occupied: 'Occupied', st_out_of_service: 'Out of order',
    updated: 'updated {n} min ago', updatedH: 'updated {n} h ago', updatedD: 'updated {n} d ago',
    stale: 'old data', source: 'source: {s}',
    station: 'Station', points: 'Charging points',
    address: 'Address', operator: 'Operator', network_: 'Network', hours: 'Hours', access: 'Access',
    payment: 'Payment', pricing: 'Pricing', pmr: 'Wheelchair access', height: 'Height limit', twoWheeler: 'Two-wheelers',
    open247: 'Open 24/7', yes: 'yes', no: 'no', unknown: 'not given',
    free: 'Free', payAct: 'pay as you go', card: 'bank card',
    directions: 'Directions', directionsOsm: 'Directions (OpenStreetMap)',
    report: 'Report a problem', reportTitle: 'Report a problem', reportCat: 'Problem',
    rc_not_working: 'Not working', rc_blocked: 'Blocked by a car', rc_payment_refused: 'Payment refused', rc_works: 'Works in progress', rc_other: 'Other',
    reportMsg: 'Details (optional)', reportSend: 'Send the report',
    reportDone: 'Thank you: your report was sent to the team.',
    loginToReport: 'Log in to report a problem.',
    listTitle: 'Stations in the map view',
    listEmpty: 'No station in this area: zoom out or move the map.',
    listCount: '{n} stations', listMore: 'The first 100 stations are listed: zoom in to narrow down.',
    listFree: '{a}/{t} available',
    filtersTitle: 'Filters', minPower: 'Minimum power', anyPower: 'Any', connectors: 'Connectors',
    c_ef: 'E/F (household)', c_type_2: 'Type 2', c_combo_ccs: 'Combo CCS', c_chademo: 'CHAdeMO', c_autre: 'Other',
    price: 'Price', p_any: 'Any', p_free: 'Free', p_paid: 'Paid',
    f_pay_as_you_go: 'Pay as you go', f_card: 'Bank card', f_open_24_7: 'Open 24/7', f_pmr: 'Wheelchair accessible',
    f_free_access: 'Free access', f_two_wheeler: 'Two-wheelers', f_t2_cable: 'Attached T2 cable', f_available_now: 'Available now',
    apply: 'Apply', reset: 'Clear all', options: 'Options', activeFilters: '{n} active filter(s)',
    profiles: 'My filter profiles', profileName: 'Profile name', profileSave: 'Save these filters',
    profileApply: 'Apply', profileDelete: 'Delete', profileSaved: 'Profile saved.',
    myCar: 'My car: compatible connectors only',
    effective: '{kw} for {car}', incompatible: 'connector not compatible with your vehicle',
    login: 'Log in', logout: 'Log out', register: 'Sign up',
    email: 'Email address', password: 'Password', firstName: 'First name', lastName: 'Last name',
    pwHint: 'At least 10 characters.',
    haveAccount: 'Have an account? Log in', noAccount: 'No account? Sign up',
    hello: 'Hello {name}',
    vehicles: 'My vehicles', vehicleAdd: 'Add a vehicle', vehicleEdit: 'Edit', vehicleDelete: 'Delete',
    vehicleName: 'Vehicle name', plate: 'Plate (optional)', battery: 'Battery (kWh)',
    maxAc: 'Max AC power (kW)', maxDc: 'Max DC power (kW)', save: 'Save', cancel: 'Cancel',
    noVehicle: 'No vehicle: add one to book.', pickConnector: 'Pick at least one connector.',
    history: 'My bookings', historyEmpty: 'No booking yet.',
    book: 'Book', bookTitle: 'Book a point', bookPoint: 'Free compatible point', bookVehicle: 'Vehicle',
    bookNone: 'No free point compatible with this vehicle right now.',
    bookLogin: 'Log in to book a point.', bookNotReservable: 'not bookable',
    bookConfirm: 'Confirm the booking', bookTerms: 'Booking terms',
    bookDone: 'Point booked for {n} minutes.',
    countdownLabel: 'Time left to start charging before the point is released',
    start: 'Start charging', stop: 'Stop charging', cancelBooking: 'Cancel booking',
    cancelConfirm: 'Cancel this booking? The point will be released.',
    bs_reserved: 'Booked', bs_charging: 'Charging', bs_completed: 'Finished', bs_expired: 'Expired', bs_cancelled: 'Cancelled',
    elapsed: 'Elapsed', soc: 'Battery', energy: 'Energy', powerNow: 'Power', estEnd: 'Estimated end',
    log: 'Charger log',
    receipt: 'Receipt', receiptEnergy: 'Energy delivered', receiptDuration: 'Charging time', receiptAvg: 'Average power',
    receiptSoc: 'Battery', receiptPoint: 'Point', receiptReason: 'End',
    waitingReceipt: 'Receipt on its way…', dismiss: 'Close the receipt',
    expiredMsg: 'The booking expired: the point was released.',
    details: 'Details',
    r101: 'Charging 101', about: 'About', zoomIn: 'Zoom in', zoomOut: 'Zoom out',
  },
};

const saved = (() => { try { return localStorage.getItem('wattsup.lang'); } catch { return null; } })();
export let lang = new URLSearchParams(location.search).get('lang') || saved || 'fr';
if (!STRINGS[lang]) lang = 'fr';

export function t(key, vars) {
  let s = STRINGS[lang][key] ?? STRINGS.fr[key] ?? key;
  if (vars) for (const [k, v] of Object.entries(vars)) s = s.replaceAll(`{${k}}`, v);
  return s;
}

const listeners = [];
export function onLang(fn) { listeners.push(fn); }

/** Fill every [data-i18n] (text), [data-i18n-label] (aria-label) and [data-i18n-ph] (placeholder). */
export function applyI18n(root = document) {
  document.documentElement.lang = lang;
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-label]')) el.setAttribute('aria-label', t(el.dataset.i18nLabel));
  for (const el of root.querySelectorAll('[data-i18n-ph]')) el.placeholder = t(el.dataset.i18nPh);
  for (const el of root.querySelectorAll('[data-i18n-title]')) el.title = t(el.dataset.i18nTitle);
}

export function toggleLang() {
  lang = lang === 'fr' ? 'en' : 'fr';
  try { localStorage.setItem('wattsup.lang', lang); } catch { /* private mode */ }
  applyI18n();
  for (const fn of listeners) fn(lang);
}

export function locale() { return lang === 'fr' ? 'fr-FR' : 'en-GB'; }
