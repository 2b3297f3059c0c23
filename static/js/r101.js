// Recharger 101: show the article in the chosen language and the live booking terms.
import { get } from './api.js';
import { $, $$ } from './dom.js';
import { applyI18n, lang, onLang, t, toggleLang } from './i18n.js';

function show() {
  for (const a of $$('article[data-lang]')) a.hidden = a.dataset.lang !== lang;
  $('#lang').textContent = t('lang');
}

async function terms() {
  try {
    const tm = await get('/api/reservations/terms');
    $('#terms-fr').textContent = `${tm.text_fr} ${tm.price}`;
    $('#terms-en').textContent = `${tm.text_en} ${tm.price_en}`;
  } catch (err) {
    $('#terms-fr').textContent = err.message;
    $('#terms-en').textContent = err.message;
  }
}

applyI18n();
show();
onLang(show);
$('#lang').addEventListener('click', toggleLang);
terms();
