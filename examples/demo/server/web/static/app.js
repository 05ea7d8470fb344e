// The token playground: plain JavaScript, no build step. The access token
// lives only in this variable; the refresh token lives in an HttpOnly cookie
// scoped to /token, out of reach of any script.
"use strict";

let accessToken = "";

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

function setAccessToken(token) {
  accessToken = token || "";
  $("access-token").textContent = accessToken || "none";
}

// tokens handles the answer of POST /token and POST /token/refresh.
async function tokens(label, response) {
  const body = await show(label, response);
  if (response.ok) {
    setAccessToken(JSON.parse(body).access_token);
  }
}

async function getTokens(event) {
  event.preventDefault();
  const response = await fetch("/token", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: $("token-username").value, password: $("token-password").value }),
  });
  await tokens("POST /token", response);
}

async function callMe() {
  const headers = accessToken ? { Authorization: "Bearer " + accessToken } : {};
  // credentials "omit": show what the token alone is worth, without the
  // session cookie.
  const response = await fetch("/api/me", { headers, credentials: "omit" });
  await show("GET /api/me", response);
}

async function refresh() {
  // The refresh token travels in its cookie; the body stays empty.
  const response = await fetch("/token/refresh", { method: "POST", credentials: "same-origin" });
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
  $("refresh").addEventListener("click", report(refresh));
  $("token-logout").addEventListener("click", report(tokenLogout));
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
