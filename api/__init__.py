"""The booking API: accounts, vehicles, stations, reservations, admin, import feed."""
