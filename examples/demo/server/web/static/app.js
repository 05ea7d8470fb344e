// The token playground: plain JavaScript, no build step. The access token
// lives only in this variable; the refresh token lives in an HttpOnly cookie
// scoped to /token, out of reach of any script.
"use strict";

let accessToken = "";
let tokenType = ""; // "Bearer" or "DPoP", as the token endpoint answered

const $ = (id) => document.getElementById(id);

// show prints a request and its answer below the buttons.
async function show(label, response) {
  let body = await response.text();
  try {
    body = JSON.stringify(JSON.parse(body), null, 2);
  } catch (_) {
    // not JSON: show it as it came
  }
  const auth = response.headers.get("WWW-Authenticate");
  $("output").textContent =
    label + " → " + response.status + " " + response.statusText +
    (auth ? "\nWWW-Authenticate: " + auth : "") +
    (body ? "\n\n" + body : "");
  return body;
}

function setAccessToken(token, type) {
  accessToken = token || "";
  tokenType = accessToken ? type || "Bearer" : "";
  $("access-token").textContent = accessToken || "none";
  $("token-type").textContent = tokenType || "none";
}

// DPoP (RFC 9449). The key pair is ECDSA P-256 (ES256), made by WebCrypto
// with extractable false: the private key never leaves the browser's crypto
// implementation, not even to this script, which can only ask it to sign.
// IndexedDB keeps the key objects themselves (a structured clone, still
// non-extractable), so the key outlives a reload as the refresh cookie does;
// where IndexedDB is unavailable the key lives in memory, for this page.
const keyDB = "authkit-demo";
const keyStore = "keys";
const keyName = "dpop";
let dpopKeyPromise = null;

function idb(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function openKeyDB() {
  try {
    const open = indexedDB.open(keyDB, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(keyStore);
    return await idb(open);
  } catch (_) {
    return null;
  }
}

// dpopKey returns the browser's DPoP key: the private key, the public JWK
// that proofs carry, and its RFC 7638 thumbprint (what the tokens' cnf.jkt
// names).
function dpopKey() {
  if (!dpopKeyPromise) {
    dpopKeyPromise = loadOrMakeKey().catch((err) => {
      dpopKeyPromise = null;
      throw err;
    });
  }
  return dpopKeyPromise;
}

async function loadOrMakeKey() {
  if (!window.isSecureContext || !crypto.subtle) {
    throw new Error("DPoP needs WebCrypto, which browsers offer only on https:// or loopback pages");
  }
  const db = await openKeyDB();
  let pair = db ? await idb(db.transaction(keyStore).objectStore(keyStore).get(keyName)) : undefined;
  if (!pair) {
    pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
    if (db) {
      await idb(db.transaction(keyStore, "readwrite").objectStore(keyStore).put(pair, keyName));
    }
  }
  if (db) {
    db.close();
  }
  // A public key is always exportable; only its coordinates go in proofs.
  const { crv, kty, x, y } = await crypto.subtle.exportKey("jwk", pair.publicKey);
  const jwk = { crv, kty, x, y }; // RFC 7638 §3.2: the required members, in lexicographic order
  const key = { privateKey: pair.privateKey, jwk, jkt: b64url(await sha256(JSON.stringify(jwk))) };
  $("dpop-key").textContent = "ECDSA P-256";
  $("dpop-jkt").textContent = key.jkt;
  $("dpop-extractable").textContent = String(key.privateKey.extractable);
  return key;
}

function utf8(s) {
  return new TextEncoder().encode(s);
}

async function sha256(s) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", utf8(s)));
}

function b64url(bytes) {
  let bin = "";
  for (const b of bytes) {
    bin += String.fromCharCode(b);
  }
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// dpopProof signs a proof (RFC 9449 §4.2) for a request with method to path
// on this origin, with the hash of the access token (ath) when there is one.
async function dpopProof(method, path, token) {
  const key = await dpopKey();
  const claims = {
    jti: b64url(crypto.getRandomValues(new Uint8Array(16))),
    htm: method,
    htu: new URL(path, location.origin).href,
    iat: Math.floor(Date.now() / 1000),
  };
  if (token) {
    claims.ath = b64url(await sha256(token));
  }
  const input = b64url(utf8(JSON.stringify({ typ: "dpop+jwt", alg: "ES256", jwk: key.jwk }))) + "." +
    b64url(utf8(JSON.stringify(claims)));
  // WebCrypto's ECDSA signature is r || s, the JWS form (RFC 7518 §3.4).
  const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key.privateKey, utf8(input));
  return input + "." + b64url(new Uint8Array(sig));
}

// proofHeaders is the DPoP header of a token request when DPoP is checked.
async function proofHeaders(path) {
  return $("use-dpop").checked ? { DPoP: await dpopProof("POST", path, "") } : {};
}

// tokens handles the answer of POST /token and POST /token/refresh.
async function tokens(label, response) {
  const body = await show(label, response);
  if (response.ok) {
    const t = JSON.parse(body);
    setAccessToken(t.access_token, t.token_type);
  }
}

async function getTokens(event) {
  event.preventDefault();
  const response = await fetch("/token", {
    method: "POST",
    headers: { "Content-Type": "application/json", ...(await proofHeaders("/token")) },
    body: JSON.stringify({ username: $("token-username").value, password: $("token-password").value }),
  });
  await tokens("POST /token", response);
}

// callMe presents the access token as it was issued: a DPoP-bound one with
// a fresh proof for this request, a bearer one alone.
async function callMe() {
  let headers = {};
  if (tokenType === "DPoP") {
    headers = { Authorization: "DPoP " + accessToken, DPoP: await dpopProof("GET", "/api/me", accessToken) };
  } else if (accessToken) {
    headers = { Authorization: "Bearer " + accessToken };
  }
  // credentials "omit": show what the token alone is worth, without the
  // session cookie.
  const response = await fetch("/api/me", { headers, credentials: "omit" });
  await show("GET /api/me", response);
}

// callMeAsBearer sends the access token the way a thief who copied it
// would: as a bearer token, with no proof. A DPoP-bound token is refused.
async function callMeAsBearer() {
  const headers = accessToken ? { Authorization: "Bearer " + accessToken } : {};
  const response = await fetch("/api/me", { headers, credentials: "omit" });
  await show("GET /api/me as Bearer", response);
}

async function refresh() {
  // The refresh token travels in its cookie; the body stays empty. A
  // DPoP-bound one refreshes only with a proof by its key.
  const response = await fetch("/token/refresh", {
    method: "POST",
    headers: await proofHeaders("/token/refresh"),
    credentials: "same-origin",
  });
  await tokens("POST /token/refresh", response);
}

async function tokenLogout() {
  const response = await fetch("/token/logout", { method: "POST", credentials: "same-origin" });
  if (response.ok) {
    setAccessToken("");
  }
  await show("POST /token/logout", response);
}

function report(fn) {
  return (event) => fn(event).catch((err) => { $("output").textContent = String(err); });
}

document.addEventListener("DOMContentLoaded", () => {
  $("token-form").addEventListener("submit", report(getTokens));
  $("call-me").addEventListener("click", report(callMe));
  $("call-me-bearer").addEventListener("click", report(callMeAsBearer));
  $("refresh").addEventListener("click", report(refresh));
  $("token-logout").addEventListener("click", report(tokenLogout));
  // Show the key as soon as DPoP is checked.
  $("use-dpop").addEventListener("change", report(async () => {
    if ($("use-dpop").checked) {
      await dpopKey();
    }
  }));
});

// "Where you're signed in": each button ends that device at once
// (DELETE /api/sessions/{id}, by this browser's session cookie).
async function endDevice(item) {
  const id = item.dataset.id;
  const r = await fetch("/api/sessions/" + encodeURIComponent(id), { method: "DELETE" });
  if (!r.ok) {
    await show("DELETE /api/sessions/" + id, r);
  } else if (item.classList.contains("current")) {
    location.reload(); // this browser is signed out now
  } else {
    item.remove();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const item of document.querySelectorAll("li.device")) {
    item.querySelector(".end-device").addEventListener("click", report(() => endDevice(item)));
  }
});
