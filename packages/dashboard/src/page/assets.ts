/**
 * The web page's files, served by the router as GET routes: the HTML shell at `/`, its script,
 * stylesheet and icon. Every file carries a strict Content-Security-Policy (same-origin only, no
 * inline script or style, no framing, no form posts) plus nosniff and no-referrer, so that even
 * a provider's data that looked like markup could not run in an operator's browser.
 */
import { PAGE_CSS } from './css.js';
import { PAGE_HTML } from './html.js';
import { PAGE_JS } from './js.js';

/** One of the web page's files. */
export interface PageAsset {
  /** Content type. */
  readonly type: string;
  /** The file. */
  readonly body: string;
  /** Extra headers. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** The page's Content-Security-Policy: everything from this origin only, nothing inline. */
export const PAGE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': PAGE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/** The tab icon: three linked nodes. */
const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">
<path d="M8 24 16 8l8 16z" fill="none" stroke="#0b5cad" stroke-width="2.5"/>
<circle cx="16" cy="8" r="4.5" fill="#0b5cad"/><circle cx="8" cy="24" r="4.5" fill="#0b5cad"/>
<circle cx="24" cy="24" r="4.5" fill="#0b5cad"/>
</svg>
`;

/** Path → file. */
export const PAGE_ASSETS: Readonly<Record<string, PageAsset>> = {
  '/': { type: 'text/html; charset=utf-8', body: PAGE_HTML, headers: SECURITY_HEADERS },
  '/app.js': { type: 'text/javascript; charset=utf-8', body: PAGE_JS, headers: SECURITY_HEADERS },
  '/app.css': { type: 'text/css; charset=utf-8', body: PAGE_CSS, headers: SECURITY_HEADERS },
  '/favicon.svg': { type: 'image/svg+xml', body: FAVICON_SVG, headers: SECURITY_HEADERS },
};
