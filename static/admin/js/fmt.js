// Numbers, dates and durations in the page's language.
import { lang } from "./i18n.js";

const locale = () => (lang() === "en" ? "en-GB" : "fr-FR");

export const num = (n, digits = 0) =>
  n === null || n === undefined
    ? "—"
    : new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }).format(n);

export const pct = (ratio, digits = 1) =>
  ratio === null || ratio === undefined
    ? "—"
    : new Intl.NumberFormat(locale(), {
        style: "percent",
        maximumFractionDigits: digits,
      }).format(ratio);

export const dateTime = (iso) =>
  iso
    ? new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short" }).format(
        new Date(iso),
      )
    : "—";

export const day = (iso, opts = { day: "numeric", month: "short" }) =>
  iso ? new Intl.DateTimeFormat(locale(), { timeZone: "UTC", ...opts }).format(new Date(iso)) : "—";

export const month = (iso) => day(iso, { month: "short", year: "numeric" });

/** 75 → "1 min 15 s"; null → "—" */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (h) return `${h} h ${String(m).padStart(2, "0")} min`;
  if (m) return `${m} min ${String(r).padStart(2, "0")} s`;
  return `${r} s`;
}

export const bytes = (n) => {
  if (n === null || n === undefined) return "—";
  const units = ["o", "Ko", "Mo", "Go"];
  const unitsEn = ["B", "KB", "MB", "GB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${num(v, i ? 1 : 0)} ${(lang() === "en" ? unitsEn : units)[i]}`;
};
