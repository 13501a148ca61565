// The LIFF member card (/liff/). Bundled by esbuild into static/liff/dist/card.js.
//
// One path in production and in the sandbox: liff.init → logged in? (else liff.login) →
// liff.getIDToken() → our API with `Authorization: Bearer <ID token>`. The page sends the raw
// ID token and nothing else about the user: the server asks LINE who it belongs to.
// In sandbox mode (config.sandbox) LIFF runs with @line/liff-mock and the LINE sandbox plays
// LINE Login: the chat simulator opens this page with `#id_token=…`, and a new token comes
// from the sandbox's control API.
import liff from "@line/liff/core";
import GetIDToken from "@line/liff/get-id-token";
import IsInClient from "@line/liff/is-in-client";
import IsLoggedIn from "@line/liff/is-logged-in";
import Login from "@line/liff/login";
import Logout from "@line/liff/logout";

const config = JSON.parse(document.getElementById("liff-config").textContent);
const $ = (id) => document.getElementById(id);

// A page left open stops showing fresh codes after this long without a touch: a phone in a
// pocket should not mint a code every 40 seconds.
const IDLE_LIMIT_MS = 5 * 60 * 1000;
// After a re-login, a second 401 within this window is a real error, not an expired token.
const RELOGIN_KEY = "liff-card:relogin-at";
const RELOGIN_WINDOW_MS = 60 * 1000;
const SANDBOX_USER_KEY = "liff-card:sandbox-user";
const HISTORY_PAGE = 10;

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.code) || "http_error";
  }
}

// --- LINE login and the ID token ------------------------------------------------------------

let idToken = null;

function jwtSubject(token) {
  // Sandbox only: which simulated user to ask the sandbox a new token for. The server never
  // sees this value; it verifies the token with LINE.
  const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(atob(payload)).sub;
}

async function sandboxSignIn({ fresh }) {
  const fragment = new URLSearchParams(location.hash.slice(1));
  let token = fragment.get("id_token");
  if (token) {
    sessionStorage.setItem(SANDBOX_USER_KEY, jwtSubject(token));
    // Like LIFF, keep credentials out of the address bar (and out of screenshots).
    history.replaceState(null, "", location.pathname + location.search);
  }
  if (fresh || !token) {
    const userId = sessionStorage.getItem(SANDBOX_USER_KEY);
    if (!userId) {
      throw new Error("LINEシミュレーター(/line-sandbox/)のリッチメニューから会員証を開いてください。");
    }
    const response = await fetch(
      `${config.sandboxControl}/users/${encodeURIComponent(userId)}/id-token`,
      { method: "POST", cache: "no-store" },
    );
    if (!response.ok) throw new Error("サンドボックスからIDトークンを取得できませんでした。");
    token = (await response.json()).idToken;
  }
  liff.$mock.set((previous) => ({ ...previous, isLoggedIn: true, getIDToken: token }));
}

async function liffStart() {
  liff.use(new IsInClient());
  liff.use(new IsLoggedIn());
  liff.use(new Login());
  liff.use(new Logout());
  liff.use(new GetIDToken());
  if (config.sandbox) {
    const mock = await import("@line/liff-mock");
    // A CommonJS package: esbuild's chunk exposes its exports object as the default export.
    const LiffMockPlugin = mock.LiffMockPlugin ?? mock.default.LiffMockPlugin;
    liff.use(new LiffMockPlugin());
  }
  try {
    await liff.init({ liffId: config.liffId, mock: config.sandbox });
  } catch (error) {
    throw new Error(`LINEとの接続を開始できませんでした。(${error.message || error})`);
  }
  if (config.sandbox) await sandboxSignIn({ fresh: false });
  if (!liff.isLoggedIn()) {
    // Outside LINE's app: LINE Login, then back here.
    liff.login({ redirectUri: location.href });
    return false;
  }
  idToken = liff.getIDToken();
  if (!idToken) throw new Error("LINEのIDトークンを取得できませんでした。");
  return true;
}

function reloginAllowed() {
  const at = Number(sessionStorage.getItem(RELOGIN_KEY) || 0);
  return Date.now() - at > RELOGIN_WINDOW_MS;
}

// ID tokens expire after about an hour and LIFF does not renew them in a page that stays
// open: log in again for a new one.
async function relogin() {
  sessionStorage.setItem(RELOGIN_KEY, String(Date.now()));
  if (config.sandbox) {
    await sandboxSignIn({ fresh: true });
    idToken = liff.getIDToken();
    return;
  }
  liff.logout();
  // In LINE's app liff.init logs in by itself on load; elsewhere LINE Login brings us back.
  if (liff.isInClient()) location.reload();
  else liff.login({ redirectUri: location.href });
  await new Promise(() => {}); // the page is being replaced
}

async function api(method, path, body, retried = false) {
  let response;
  try {
    response = await fetch(config.apiBase + path, {
      method,
      cache: "no-store",
      headers: {
        Authorization: `Bearer ${idToken}`,
        ...(body ? { "Content-Type": "application/json" } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch {
    throw new ApiError(0, { code: "network", message: "通信できませんでした。電波の良い所でもう一度お試しください。" });
  }
  if (response.status === 401 && !retried && reloginAllowed()) {
    await relogin();
    return api(method, path, body, true);
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// --- formatting ----------------------------------------------------------------------------

const yen = (n) => `${n.toLocaleString("ja-JP")}円`;
const pts = (n) => `${n.toLocaleString("ja-JP")}pt`;
const signedPts = (n) => `${n > 0 ? "+" : n < 0 ? "−" : ""}${Math.abs(n).toLocaleString("ja-JP")}pt`;
const dateTime = new Intl.DateTimeFormat("ja-JP", {
  timeZone: "Asia/Tokyo", year: "numeric", month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit",
});
const dateOnly = (iso) => {
  const [y, m, d] = iso.split("-").map(Number);
  return `${y}年${m}月${d}日`;
};

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// --- views ---------------------------------------------------------------------------------

function show(view) {
  for (const id of ["view-loading", "view-error", "view-card", "view-link"]) $(id).hidden = id !== view;
}

function showError(error) {
  stopCodeTimer();
  $("error-message").textContent = error.message || "エラーが発生しました。";
  show("view-error");
}

function notice(id, text) {
  $(id).textContent = text;
  $(id).hidden = !text;
}

// --- the QR code: replaced before it expires ------------------------------------------------

const codeState = { refreshAt: 0, expiresAt: 0, lifetime: 1, timer: null, ticker: null, busy: false };
let lastInteraction = Date.now();

function showCode(code) {
  $("qr").innerHTML = code.qr_svg; // SVG generated by our server from the code alone
  $("qr").classList.remove("stale");
  $("qr-paused").hidden = true;
  $("code-warning").hidden = true;
  // Timed from now with the server's remaining seconds: a phone with a wrong clock still
  // refreshes on time. A third of the lifetime is left when the code is replaced, so a code
  // scanned at the last moment still has time to reach the POS.
  const lifetime = Math.max(1, code.code_expires_in);
  const lead = Math.max(3, Math.ceil(lifetime / 3));
  const now = Date.now();
  codeState.lifetime = Math.max(1, lifetime - lead);
  codeState.refreshAt = now + codeState.lifetime * 1000;
  codeState.expiresAt = now + lifetime * 1000;
  clearTimeout(codeState.timer);
  codeState.timer = setTimeout(tick, codeState.refreshAt - now);
  if (!codeState.ticker) codeState.ticker = setInterval(tick, 1000);
  tick();
}

function stopCodeTimer() {
  clearTimeout(codeState.timer);
  clearInterval(codeState.ticker);
  codeState.ticker = null;
}

function tick() {
  const now = Date.now();
  const left = Math.max(0, Math.ceil((codeState.refreshAt - now) / 1000));
  $("code-countdown").textContent = String(left);
  $("code-bar").style.width = `${Math.min(100, (left / codeState.lifetime) * 100)}%`;
  if (now >= codeState.expiresAt) $("qr").classList.add("stale");
  if (now < codeState.refreshAt || codeState.busy) return;
  if (now - lastInteraction > IDLE_LIMIT_MS) {
    $("qr-paused").hidden = false;
    return;
  }
  refreshCode();
}

async function refreshCode() {
  codeState.busy = true;
  try {
    const code = await api("POST", "/card/code");
    showCode(code);
    if (code.points_balance !== shownBalance) reloadHistory(code.points_balance).catch(() => {});
  } catch (error) {
    if (error.code === "not_linked") return void load();
    $("code-warning").textContent = `${error.message} 自動で再試行します。`;
    $("code-warning").hidden = false;
    // Try again in a few seconds; the old code stays on screen only while it is valid.
    codeState.refreshAt = Date.now() + 5000;
  } finally {
    codeState.busy = false;
  }
}

function touched() {
  lastInteraction = Date.now();
}

// --- card and history ----------------------------------------------------------------------

const cursors = { purchases: null, points: null };
let shownBalance = null;

function showBalance(points) {
  shownBalance = points;
  $("points-balance").textContent = points.toLocaleString("ja-JP");
}

// A sale at the till moved points since the card was opened: show it.
async function reloadHistory(points) {
  showBalance(points);
  const page = await api("GET", `/history?limit=${HISTORY_PAGE}`);
  appendHistory("purchases", page.purchases, page.purchases_next, { replace: true });
  appendHistory("points", page.points, page.points_next, { replace: true });
}

function purchaseRow(p) {
  const li = el("li");
  li.append(el("span", "when", dateTime.format(new Date(p.occurred_at))), el("span"));
  li.append(el("span", "what", p.store_name), el("span", "amount", yen(p.total)));
  const parts = [];
  if (p.points_earned) parts.push(`獲得 ${pts(p.points_earned)}`);
  if (p.points_redeemed) parts.push(`利用 ${pts(p.points_redeemed)}`);
  for (const r of p.refunds) parts.push(`返品 ${yen(r.amount)}(${dateTime.format(new Date(r.occurred_at))})`);
  if (parts.length) li.append(el("span", "sub", parts.join(" / ")));
  return li;
}

function pointRow(e) {
  const li = el("li");
  li.append(el("span", "when", dateTime.format(new Date(e.occurred_at))), el("span"));
  li.append(el("span", "what", e.kind_label), el("span", `amount ${e.delta > 0 ? "plus" : "minus"}`, signedPts(e.delta)));
  const sub = [`残高 ${pts(e.balance_after)}`];
  if (e.expires_on) sub.push(`有効期限 ${dateOnly(e.expires_on)}`);
  li.append(el("span", "sub", sub.join(" / ")));
  return li;
}

function appendHistory(kind, items, next, { replace }) {
  const list = $(kind);
  if (replace) list.replaceChildren();
  list.append(...items.map(kind === "purchases" ? purchaseRow : pointRow));
  cursors[kind] = next ?? null;
  $(`${kind}-more`).hidden = cursors[kind] === null;
  $(`${kind}-empty`).hidden = list.children.length > 0;
}

async function loadMore(kind) {
  const button = $(`${kind}-more`);
  button.disabled = true;
  try {
    const page = await api("GET", `/history?kind=${kind}&before=${cursors[kind]}&limit=${HISTORY_PAGE}`);
    appendHistory(kind, page[kind], page[`${kind}_next`], { replace: false });
  } catch (error) {
    notice("notice", error.message);
  } finally {
    button.disabled = false;
  }
}

function renderCard(card) {
  $("member-name").textContent = `${card.display_name} 様`;
  $("member-tier").textContent = card.tier || "";
  $("card-number").textContent = card.card_number.replace(/(\d{4})(?=\d)/g, "$1 ");
  showBalance(card.points_balance);
  $("expiring").replaceChildren(
    ...card.expiring_points.slice(0, 3).map((e) => el("li", "", `${dateOnly(e.expires_on)}に ${pts(e.points)} が失効予定`)),
  );
  appendHistory("purchases", card.history.purchases, card.history.purchases_next, { replace: true });
  appendHistory("points", card.history.points, card.history.points_next, { replace: true });
  show("view-card");
  showCode(card);
}

// --- linking -------------------------------------------------------------------------------

function selectTab(which) {
  const existing = which === "existing";
  $("tab-existing").setAttribute("aria-selected", String(existing));
  $("tab-register").setAttribute("aria-selected", String(!existing));
  $("form-existing").hidden = !existing;
  $("form-register").hidden = existing;
  $("link-error").hidden = true;
}

function showLink(message = "") {
  stopCodeTimer();
  notice("link-notice", message);
  show("view-link");
}

function posterStore() {
  return new URLSearchParams(location.search).get("store") || "";
}

async function submitLink(form, body) {
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  $("link-error").hidden = true;
  try {
    const card = await api("POST", "/link", { ...body, store: posterStore() });
    notice("notice", card.bonus_awarded
      ? `連携しました。${pts(card.bonus_awarded)}をプレゼントしました!`
      : "連携しました。");
    form.reset();
    renderCard(card);
    window.scrollTo(0, 0);
  } catch (error) {
    $("link-error").textContent = error.code === "validation_error"
      ? "入力内容をご確認ください(必須項目・生年月日)。"
      : error.message;
    $("link-error").hidden = false;
  } finally {
    button.disabled = false;
  }
}

function onExistingSubmit(event) {
  event.preventDefault();
  const form = event.currentTarget;
  submitLink(form, {
    card_number: form.card_number.value.trim(),
    birth_date: form.birth_date.value || null,
  });
}

function onRegisterSubmit(event) {
  event.preventDefault();
  const form = event.currentTarget;
  if (!form.agree.checked) {
    $("link-error").textContent = "会員規約と個人情報の取り扱いへの同意が必要です。";
    $("link-error").hidden = false;
    return;
  }
  submitLink(form, {
    register: {
      name: form.name.value.trim(),
      name_kana: form.name_kana.value.trim(),
      birth_date: form.birth_date.value || null,
      gender: form.gender.value,
      prefecture: form.prefecture.value,
      agree: true,
    },
  });
}

async function onUnlinkClosed() {
  if ($("unlink-dialog").returnValue !== "confirm") return;
  try {
    await api("POST", "/unlink");
    notice("notice", "");
    showLink("連携を解除しました。ポイントと履歴は会員カードに残っています。");
  } catch (error) {
    notice("notice", error.message);
  }
}

// --- start ---------------------------------------------------------------------------------

async function load() {
  show("view-loading");
  try {
    if (!idToken && !(await liffStart())) return;
    const card = await api("GET", "/card");
    if (card.linked) renderCard(card);
    else showLink();
  } catch (error) {
    showError(error);
  }
}

// A clean start: LIFF is initialised once per page.
$("retry").addEventListener("click", () => location.reload());
$("purchases-more").addEventListener("click", () => loadMore("purchases"));
$("points-more").addEventListener("click", () => loadMore("points"));
$("tab-existing").addEventListener("click", () => selectTab("existing"));
$("tab-register").addEventListener("click", () => selectTab("register"));
$("form-existing").addEventListener("submit", onExistingSubmit);
$("form-register").addEventListener("submit", onRegisterSubmit);
$("unlink-open").addEventListener("click", () => $("unlink-dialog").showModal());
$("unlink-dialog").addEventListener("close", onUnlinkClosed);
$("qr-paused").addEventListener("click", () => {
  touched();
  refreshCode();
});
document.addEventListener("pointerdown", touched, { passive: true });
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState !== "visible") return;
  touched();
  if (!$("view-card").hidden) tick();
});

load();
