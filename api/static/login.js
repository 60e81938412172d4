// Logs in from a link's fragment (/#code=...), which browsers never send to the server: the code is
// taken out of the address bar and this history entry at once, posted to /login like the form, and
// the page reloads with the cookie, or goes on to the page the browser asked for (`?next=`, only a
// path of this site: the same rule as api.security.safe_next). Served without a code (PUBLIC_PATHS).
"use strict";
(() => {
  const nextPath = () => {
    const wanted = new URLSearchParams(location.search).get("next") || "/";
    const plain = wanted.startsWith("/") && !wanted.startsWith("//") && !/[\\\s\x00-\x1f\x7f]/.test(wanted);
    return plain && new URL(wanted, location.origin).origin === location.origin ? wanted : "/";
  };
  const match = /(?:^#|&)code=([^&]*)/.exec(location.hash);
  if (!match) return;
  history.replaceState(null, "", location.pathname + location.search);
  let code = "";
  try { code = decodeURIComponent(match[1]).trim(); } catch (e) { code = ""; }
  const say = (text) => {
    const box = document.querySelector(".error");
    if (box) box.textContent = text;
  };
  if (!code) return;
  fetch("/login", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ code }),
    credentials: "same-origin",
  }).then((r) => {
    if (r.ok) location.replace(nextPath());
    else if (r.status === 429) say(`Too many wrong codes from this device. Try again in ${r.headers.get("Retry-After") || "a few"} s.`);
    else say("The code in that link is not right. Check the room screen and type the code here.");
  }).catch(() => say("Could not reach talktime. Check the network and try again."));
})();
