// phonefleet console: a client of the public API only (same origin), no
// dependencies, no build step.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
const state = {
  token: sessionStorage.getItem("phonefleet.token") || "",
  who: sessionStorage.getItem("phonefleet.who") || "",
  // mode is "operator" for an operator's token (the operator pages), else
  // "tenant"; role is the operator's role when the sign-in said it.
  mode: sessionStorage.getItem("phonefleet.mode") || "tenant",
  role: sessionStorage.getItem("phonefleet.role") || "",
  fleet: { page: 1, total: 0, rows: [], selected: new Map() },
  refunds: { page: 1, total: 0 },
  audit: { page: 1, total: 0 },
  catalogue: null,
  poll: null,
};

// ---- API ---------------------------------------------------------------

class APIError extends Error {
  constructor(code, message, status) { super(message); this.code = code; this.status = status; }
}

function requestID() {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b);
  return "console-" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

// api calls the API and returns data, or throws APIError with the API's
// code and message.
async function api(method, path, body, { headers = {}, query } = {}) {
  let url = path;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== "" && v !== undefined && v !== null) q.set(k, v);
    url += "?" + q.toString();
  }
  const h = { "X-Auth-Token": state.token, "X-Request-Id": requestID(), ...headers };
  if (body !== undefined) h["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(url, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new APIError("NETWORK", "The server could not be reached: " + e.message, 0);
  }
  let env = null;
  try { env = await resp.json(); } catch (e) { /* not JSON */ }
  if (!env || env.error_code === undefined) throw new APIError("HTTP " + resp.status, "Unexpected answer (HTTP " + resp.status + ")", resp.status);
  if (env.error_code !== "0") {
    if (resp.status === 401) signOut(false);
    throw new APIError(env.error_code, env.error_msg, resp.status);
  }
  return env.data;
}

// ---- messages ------------------------------------------------------------

function showError(e) {
  const box = $("#error");
  box.textContent = e instanceof APIError ? `${e.message} (${e.code})` : String(e.message || e);
  box.hidden = false;
  box.scrollIntoView({ block: "nearest" });
}
function clearMessages() { $("#error").hidden = true; $("#notice").hidden = true; }
function notice(text) { const n = $("#notice"); n.textContent = text; n.hidden = false; }

function money(minor, currency) {
  try {
    return new Intl.NumberFormat(navigator.language || "en-US", { style: "currency", currency }).format(minor / 100);
  } catch (e) {
    return (minor / 100).toFixed(2) + " " + currency;
  }
}
function when(s) { return s ? s.replace("T", " ").replace(/(\.\d+)?Z$/, " UTC") : "–"; }
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-") || k.startsWith("aria-") || k === "title" || k === "scope") e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

// ---- sign-in ---------------------------------------------------------------

async function signInWithPassword(form) {
  const f = new FormData(form);
  const body = { auth: {
    identity: { methods: ["password"], password: { user: { name: f.get("user"), password: f.get("password"), domain: { name: f.get("domain") } } } },
    scope: { domain: { name: f.get("domain") } } } };
  let resp;
  try {
    resp = await fetch("/v3/auth/tokens?nocatalog=true", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  } catch (e) {
    throw new APIError("NETWORK", "The server could not be reached: " + e.message, 0);
  }
  const data = await resp.json().catch(() => null);
  if (resp.status !== 201) {
    const msg = data && data.error ? data.error.message : data && data.error_msg ? data.error_msg : "HTTP " + resp.status;
    const code = data && data.error_code ? data.error_code : "IAM " + resp.status;
    throw new APIError(code, msg, resp.status);
  }
  const role = data && data.token && data.token.roles && data.token.roles.length ? data.token.roles[0].name : "";
  await useToken(resp.headers.get("X-Subject-Token"), `${f.get("user")} @ ${f.get("domain")}`, f.get("domain"), role);
}

// useToken checks a token and keeps it. An operator's token (the operator
// domain's sign-in, or a pasted token the admin API takes) opens the
// operator pages; any other the tenant's. domain is undefined for a pasted
// token.
async function useToken(token, who, domain, role = "") {
  state.token = token;
  let mode = "tenant";
  if (domain === undefined || domain === OPERATOR_DOMAIN) {
    try {
      await api("GET", ADMIN + "/tenants");
      mode = "operator";
    } catch (e) {
      // A tenant's token does not reach the admin API: 404 APIGW.0101.
      if (!(e instanceof APIError && e.status === 404 && e.code === "APIGW.0101")) throw e;
    }
  }
  // Check the token before keeping it: a wrong one shows the API's message.
  if (mode === "tenant") await api("GET", "/v1/instances/batch-query", undefined, { query: { page_no: 1, page_size: 1 } });
  state.mode = mode;
  state.role = mode === "operator" ? role : "";
  state.who = state.role ? `${who} (${state.role})` : who;
  sessionStorage.setItem("phonefleet.token", token);
  sessionStorage.setItem("phonefleet.who", state.who);
  sessionStorage.setItem("phonefleet.mode", state.mode);
  sessionStorage.setItem("phonefleet.role", state.role);
  location.hash = mode === "operator" ? "#tenants" : "#fleet";
  route();
}

function signOut(go = true) {
  state.token = "";
  state.mode = "tenant";
  state.role = "";
  state.opTenants = null;
  state.catalogue = null;
  $("#buy-form").elements.regionId.replaceChildren();
  sessionStorage.removeItem("phonefleet.token");
  sessionStorage.removeItem("phonefleet.who");
  sessionStorage.removeItem("phonefleet.mode");
  sessionStorage.removeItem("phonefleet.role");
  stopPolling();
  if (go) { location.hash = "#signin"; route(); }
}

// ---- routing ---------------------------------------------------------------

function route() {
  // A confirm dialog belongs to the page it was opened on: leaving the page
  // (the Back button, a link) cancels it.
  if ($("#dialog").open) $("#dialog").close();
  // An operator sees the operator pages, a tenant the tenant's.
  const op = state.token && state.mode === "operator";
  const home = op ? "tenants" : "fleet";
  const page = state.token ? (location.hash.slice(1) || home) : "signin";
  const known = ["signin", ...(op ? ["tenants", "hosts", "jobs", "opaudit"] : ["fleet", "buy", "refunds", "audit"])];
  const p = known.includes(page) ? page : home;
  for (const s of $$(".page")) s.hidden = s.id !== "page-" + p;
  $("#nav").hidden = !state.token || op;
  $("#opnav").hidden = !op;
  $("#signout").hidden = !state.token;
  $("#who").textContent = state.token ? state.who : "";
  for (const a of $$("header nav a")) {
    if (a.dataset.page === p) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  document.title = `phonefleet console: ${p}`;
  if (p !== "fleet") stopPolling();
  const load = { fleet: loadFleet, buy: loadBuy, refunds: loadRefunds, audit: loadAudit,
    tenants: loadTenants, hosts: loadHosts, jobs: loadJobs, opaudit: loadOpAudit }[p];
  if (load) load().catch(showError);
  $("#main").focus({ preventScroll: true });
}

// ---- fleet -----------------------------------------------------------------

const STATUS = {
  2: ["running", "running"], 3: ["going offline", "deleting"], 4: ["starting", "starting"], 0: ["released", "released"],
  1: ["frozen", "frozen"],
};

function fleetQuery() {
  const f = new FormData($("#filters"));
  const q = { page_no: state.fleet.page, page_size: f.get("page_size"), sort: f.get("sort"), state: f.get("state"),
    billing_mode: f.get("billing_mode"), region: f.get("region").trim(), assign_user: f.get("assign_user").trim() };
  const text = f.get("q").trim();
  if (text) q[f.get("by") === "id" ? "instance_id" : "instance_name"] = text;
  if (q.state === "released") q.include_released = "true";
  return q;
}

async function loadFleet() {
  const data = await api("GET", "/v1/instances/batch-query", undefined, { query: fleetQuery() });
  state.fleet.rows = data.result;
  state.fleet.total = data.total_count;
  renderFleet(data);
}

// selectable reports whether a row may be selected, and why not.
function selectable(row) {
  if (row.state === "deleting" || row.state === "released") {
    return [false, row.state === "deleting" ? "already unsubscribed" : "released"];
  }
  return [true, ""];
}

function renderFleet(data) {
  const tbody = $("#fleet tbody");
  tbody.replaceChildren();
  for (const row of data.result) {
    const [ok, why] = selectable(row);
    const cb = el("input", { type: "checkbox", disabled: !ok, checked: state.fleet.selected.has(row.instance_id),
      "aria-label": `Select ${row.instance_name} (${row.instance_id})`, title: why });
    cb.addEventListener("change", () => {
      if (cb.checked) state.fleet.selected.set(row.instance_id, row); else state.fleet.selected.delete(row.instance_id);
      tr.classList.toggle("selected", cb.checked);
      updateSelection();
    });
    const [label, cls] = row.state === "expired" && row.running_status === 2 ? ["expired", "expired"]
      : STATUS[row.running_status] || [row.state, row.state];
    const billing = row.billing_mode === "postPaid"
      ? el("span", {}, "pay-per-use", el("span", { class: "reason" }, "cannot be unsubscribed"))
      : el("span", {}, "yearly/monthly");
    const tr = el("tr", { "data-id": row.instance_id, "data-billing": row.billing_mode, class: cb.checked ? "selected" : "" },
      el("td", {}, cb, why ? el("span", { class: "reason" }, why) : null),
      el("td", { class: "wide" }, el("code", {}, row.instance_id)),
      el("td", {}, row.instance_name),
      el("td", { class: "wide" }, row.region),
      el("td", {}, billing),
      el("td", {}, el("span", { class: "badge " + cls, "data-status": cls }, label)),
      el("td", { class: "wide" }, row.assign_user || "–"),
      el("td", { class: "wide" }, when(row.created_at)),
      el("td", { class: "wide" }, when(row.expires_at)));
    tbody.append(tr);
  }
  if (data.result.length === 0) tbody.append(el("tr", {}, el("td", { colSpan: 9 }, "No instances match.")));
  const pages = Math.max(1, Math.ceil(data.total_count / data.page_size));
  $("#fleet-page").textContent = `Page ${data.page_no} of ${pages} · ${data.total_count} instances`;
  $("#fleet-prev").disabled = data.page_no <= 1;
  $("#fleet-next").disabled = data.page_no >= pages;
  $("#fleet").dataset.total = String(data.total_count);
  $("#fleet").dataset.loaded = String(Date.now());
  updateSelection();
  schedulePolling();
}

function updateSelection() {
  const sel = Array.from(state.fleet.selected.values());
  const ppu = sel.filter((r) => r.billing_mode === "postPaid");
  const prepaid = sel.length - ppu.length;
  $("#selection-count").textContent = `${sel.length} selected`;
  $("#act-unsubscribe").disabled = prepaid === 0;
  $("#act-unsubscribe").textContent = prepaid ? `Unsubscribe ${prepaid}…` : "Unsubscribe…";
  $("#act-delete").disabled = ppu.length === 0;
  $("#act-delete").textContent = ppu.length ? `Delete ${ppu.length} pay-per-use…` : "Delete…";
  for (const id of ["#act-assign", "#act-reboot", "#act-reset"]) $(id).disabled = sel.length === 0;
  const note = $("#selection-note");
  note.hidden = ppu.length === 0;
  note.textContent = ppu.length
    ? `${ppu.length} pay-per-use instance(s) in the selection (${ppu.map((r) => r.instance_name).join(", ")}) will be left out of unsubscribe: pay-per-use instances cannot be unsubscribed, only yearly/monthly ones. Delete stops their charges and releases them.`
    : "";
  const boxes = $$("#fleet tbody input[type=checkbox]:not(:disabled)");
  $("#select-all").checked = boxes.length > 0 && boxes.every((b) => b.checked);
}

// While a row is going offline or starting, its badge is refreshed from
// batch-query-status until it settles.
function schedulePolling() {
  stopPolling();
  const busy = state.fleet.rows.filter((r) => r.running_status === 3 || r.running_status === 4).map((r) => r.instance_id);
  if (busy.length === 0) return;
  state.poll = setTimeout(async () => {
    try {
      const data = await api("POST", "/v1/instances/batch-query-status", { instance_ids: busy.slice(0, 100) });
      let changed = false;
      for (const s of data.status_results) {
        const row = state.fleet.rows.find((r) => r.instance_id === s.instance_id);
        if (row && row.running_status !== s.status) {
          row.running_status = s.status;
          if (s.status === 0) row.state = "released";
          if (s.status === 2) row.state = "running";
          changed = true;
        }
      }
      if (changed) renderFleet({ result: state.fleet.rows, total_count: state.fleet.total, page_no: state.fleet.page, page_size: Number(new FormData($("#filters")).get("page_size")) });
      else schedulePolling();
    } catch (e) { showError(e); }
  }, 1500);
}
function stopPolling() { if (state.poll) clearTimeout(state.poll); state.poll = null; }

// ---- dialog ----------------------------------------------------------------

// ask shows the dialog and resolves with true on OK, false on cancel.
function ask(title, body, okLabel) {
  const d = $("#dialog");
  $("#dialog-title").textContent = title;
  $("#dialog-body").replaceChildren(body);
  $("#dialog-ok").textContent = okLabel;
  $("#dialog-ok").hidden = !okLabel;
  return new Promise((resolve) => {
    const done = (v) => { d.close(); cleanup(); resolve(v); };
    const onOK = (e) => { e.preventDefault(); done(true); };
    const onCancel = () => done(false);
    const onClose = () => { cleanup(); resolve(false); };
    const cleanup = () => {
      $("#dialog-form").removeEventListener("submit", onOK);
      $("#dialog-cancel").removeEventListener("click", onCancel);
      d.removeEventListener("close", onClose);
    };
    $("#dialog-form").addEventListener("submit", onOK);
    $("#dialog-cancel").addEventListener("click", onCancel);
    d.addEventListener("close", onClose);
    d.showModal();
    (okLabel ? $("#dialog-ok") : $("#dialog-cancel")).focus();
  });
}

// ---- actions on the selection ----------------------------------------------

async function unsubscribe() {
  clearMessages();
  const ids = Array.from(state.fleet.selected.values()).filter((r) => r.billing_mode !== "postPaid").map((r) => r.instance_id);
  const preview = await api("POST", "/v1/instances/delete", { instanceIdList: ids }, { query: { dry_run: "true" } });
  const names = new Map(state.fleet.rows.map((r) => [r.instance_id, r.instance_name]));
  const table = el("table", { id: "preview", "aria-label": "Refund preview" },
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Instance"), el("th", { scope: "col", class: "num" }, "Paid"),
      el("th", { scope: "col", class: "num" }, "Used"), el("th", { scope: "col", class: "num" }, "Fee"), el("th", { scope: "col", class: "num" }, "Refund"))),
    el("tbody", {}, ...preview.instances.map((it) => el("tr", { "data-id": it.instanceId },
      el("td", {}, names.get(it.instanceId) || it.instanceId, it.noop ? el("span", { class: "reason" }, "already unsubscribed: no refund") : null),
      el("td", { class: "num" }, money(it.paidAmount, preview.currency)),
      el("td", { class: "num" }, money(it.consumedAmount, preview.currency)),
      el("td", { class: "num" }, money(it.handlingFee, preview.currency)),
      el("td", { class: "num", "data-minor": String(it.refundAmount) }, money(it.refundAmount, preview.currency))))));
  const total = money(preview.totalRefund, preview.currency);
  const body = el("div", {}, el("div", { class: "table-wrap" }, table),
    el("p", { class: "total" }, "Total refund: ", el("strong", { id: "preview-total", "data-minor": String(preview.totalRefund), "data-currency": preview.currency }, total)),
    el("p", {}, "The instances go offline and are released; this cannot be undone."));
  const n = ids.length;
  if (!(await ask(`Unsubscribe ${n} instance${n === 1 ? "" : "s"}?`, body, `Unsubscribe ${n} instance${n === 1 ? "" : "s"}, refund ${total}`))) return;
  await api("POST", "/v1/instances/delete", { instanceIdList: ids });
  state.fleet.selected.clear();
  notice(`Unsubscribed ${n} instance${n === 1 ? "" : "s"}; ${total} will be refunded. They are going offline now.`);
  await loadFleet();
}

// deletePayPerUse deletes the pay-per-use instances of the selection after
// the server's dry run: their charges stop and they are released.
async function deletePayPerUse() {
  clearMessages();
  const ids = Array.from(state.fleet.selected.values()).filter((r) => r.billing_mode === "postPaid").map((r) => r.instance_id);
  const path = "/v1/phonefleet/instances/delete-pay-per-use";
  const preview = await api("POST", path, { instanceIdList: ids }, { query: { dry_run: "true" } });
  const names = new Map(state.fleet.rows.map((r) => [r.instance_id, r.instance_name]));
  const list = el("ul", { id: "delete-preview" }, ...preview.instances.map((it) => el("li", { "data-id": it.instanceId },
    names.get(it.instanceId) || it.instanceId, it.noop ? el("span", { class: "reason" }, "already deleted: no-op") : null)));
  const body = el("div", {}, list,
    el("p", {}, "Their charges stop now and the phones are released; nothing is refunded (pay-per-use is paid as it is used). This cannot be undone."));
  const n = ids.length;
  const what = `${n} pay-per-use instance${n === 1 ? "" : "s"}`;
  if (!(await ask(`Delete ${what}?`, body, `Delete ${what}`))) return;
  await api("POST", path, { instanceIdList: ids });
  state.fleet.selected.clear();
  notice(`Deleted ${what}; their charges have stopped. They are going offline now.`);
  await loadFleet();
}

async function assign() {
  clearMessages();
  const sel = Array.from(state.fleet.selected.values());
  const input = el("input", { name: "user", required: true, pattern: "[A-Za-z0-9_.@-]{1,32}", id: "assign-user" });
  const body = el("div", {}, el("label", {}, `End user for ${sel.length} instance(s)`, input));
  const shown = ask("Assign instances", body, "Assign");
  input.focus();
  if (!(await shown)) return;
  await api("POST", "/v1/instances/assign", { user_instances: sel.map((r) => ({ user_id: input.value, instance_id: r.instance_id })) });
  state.fleet.selected.clear();
  notice(`Assigned ${sel.length} instance(s) to ${input.value}.`);
  await loadFleet();
}

async function command(kind) {
  clearMessages();
  const sel = Array.from(state.fleet.selected.values());
  const verb = kind === "reboot" ? "Reboot" : "Reset";
  const body = el("p", {}, kind === "reboot" ? "The phones restart; their data stays." : "The phones restart and their data is wiped; assignments stay.");
  if (!(await ask(`${verb} ${sel.length} instance(s)?`, body, verb))) return;
  const data = await api("POST", kind === "reboot" ? "/v1/instances/reboot" : "/v1/instances/batch-reset", { instance_ids: sel.map((r) => r.instance_id) });
  state.fleet.selected.clear();
  notice(`${verb} started for ${data.cmd_jobs.length} instance(s) (task ${data.task_id}).`);
  await loadFleet();
}

// ---- buy -------------------------------------------------------------------

async function loadBuy() {
  if (!state.catalogue) state.catalogue = await api("GET", "/v1/instances/sku", undefined, { query: { type: "0" } });
  const form = $("#buy-form");
  const regions = form.elements.regionId;
  const list = state.catalogue.skuSpecResponseList;
  if (regions.options.length === 0 || !list.some((r) => r.regionId === regions.value)) {
    // The catalogue's first region is the default, also after a sign-in
    // as another tenant, whose catalogue may differ.
    regions.replaceChildren(...list.map((r) => el("option", { value: r.regionId }, r.regionId)));
    if (list.length) regions.value = list[0].regionId;
    fillSKUs();
  }
  updatePrice();
}

function currentSKU() {
  const form = $("#buy-form");
  const region = state.catalogue.skuSpecResponseList.find((r) => r.regionId === form.elements.regionId.value);
  return region ? region.skuResponses.find((s) => s.cbcSkuId === form.elements.instanceSkuId.value) : null;
}

function fillSKUs() {
  const form = $("#buy-form");
  const region = state.catalogue.skuSpecResponseList.find((r) => r.regionId === form.elements.regionId.value);
  form.elements.instanceSkuId.replaceChildren(...(region ? region.skuResponses : []).map((s) => el("option", { value: s.cbcSkuId }, s.name)));
  fillBands();
}

function fillBands() {
  const sku = currentSKU();
  const bands = $("#buy-form").elements.bandSize;
  bands.replaceChildren(...(sku ? sku.bandSize.split(",") : []).map((b) => el("option", { value: b }, b)));
  updatePrice();
}

// price returns the order's price in minor units, and what it is per.
function price() {
  const form = $("#buy-form");
  const sku = currentSKU();
  if (!sku) return null;
  const count = Number(form.elements.count.value) || 0;
  const n = Number(form.elements.periodNum.value) || 0;
  switch (form.elements.billing.value) {
    case "month": return { minor: sku.monthPrice * n * count, currency: sku.currency, per: `for ${n} month(s), paid now` };
    case "year": return { minor: sku.yearPrice * n * count, currency: sku.currency, per: `for ${n} year(s), paid now` };
    default: return { minor: sku.hourPrice * count, currency: sku.currency, per: "per hour of use, nothing up front" };
  }
}

function updatePrice() {
  const form = $("#buy-form");
  const ppu = form.elements.billing.value === "ppu";
  form.elements.periodNum.disabled = ppu;
  form.elements.periodNum.max = form.elements.billing.value === "year" ? "3" : "9";
  const p = price();
  const out = $("#buy-price");
  out.textContent = p ? `${money(p.minor, p.currency)} ${p.per}` : "–";
  if (p) out.dataset.minor = String(p.minor);
}

async function buy() {
  clearMessages();
  const form = $("#buy-form");
  const f = form.elements;
  const p = price();
  const charge = f.billing.value === "ppu" ? { chargingMode: 0 }
    : { chargingMode: 1, periodType: f.billing.value === "year" ? 3 : 2, periodNum: Number(f.periodNum.value), isAutoPay: true, isAutoRenew: false };
  const body = { os: f.os.value, instanceSkuId: f.instanceSkuId.value, bandSkuId: state.catalogue.bandInfo.cbcSkuId, regionId: f.regionId.value,
    instanceNamePrefix: f.instanceNamePrefix.value, bandSize: Number(f.bandSize.value), count: Number(f.count.value), chargeParam: charge };
  const summary = el("p", {}, `${body.count} × ${currentSKU().name} in ${body.regionId}, ${body.os}, ${body.bandSize} Mbit/s: `,
    el("strong", {}, `${money(p.minor, p.currency)} ${p.per}`));
  if (!(await ask(`Buy ${body.count} instance(s)?`, summary, `Buy for ${money(p.minor, p.currency)}`))) return;
  // One request ID for the order: a retry after a lost answer buys nothing twice.
  const data = await api("POST", "/v1/instances/create", body, { headers: { "X-Request-Id": requestID() } });
  const out = $("#buy-result");
  out.replaceChildren(el("p", {}, `Order ${data.orderId}: ${data.instanceInfos.length} instance(s) bought.`),
    el("p", {}, data.instanceInfos.slice(0, 20).map((i) => `${i.instanceName} (${i.instanceId})`).join(", ") + (data.instanceInfos.length > 20 ? ", …" : "")),
    el("p", {}, el("a", { href: "#fleet" }, "See them in the fleet")));
  out.hidden = false;
}

// ---- refunds and audit -----------------------------------------------------

async function loadRefunds() {
  const data = await api("GET", "/v1/phonefleet/refunds", undefined, { query: { page_no: state.refunds.page, page_size: 25 } });
  state.refunds.total = data.total_count;
  const cell = (label, attrs, ...content) => el("td", { "data-label": label, ...attrs }, ...content);
  $("#refunds tbody").replaceChildren(...data.result.map((r) => el("tr", { "data-id": r.instance_id },
    cell("When", {}, when(r.created_at)), cell("Instance", {}, el("code", {}, r.instance_id)), cell("Order", { class: "wide" }, r.order_id),
    cell("Paid", { class: "num" }, money(r.paid, r.currency)), cell("Consumed", { class: "num wide" }, money(r.consumed, r.currency)),
    cell("Fee", { class: "num wide" }, money(r.fee, r.currency)), cell("Refund", { class: "num", "data-minor": String(r.amount) }, money(r.amount, r.currency)))));
  if (data.result.length === 0) $("#refunds tbody").append(el("tr", {}, el("td", { colSpan: 7 }, "No refunds yet.")));
  pager("refunds", data);
}

// auditQuery returns the audit list's query: the page and the filters.
// The times are read as UTC, as the trail shows them.
function auditQuery() {
  const f = new FormData($("#audit-filters"));
  const q = { page_no: state.audit.page, page_size: 25, action: f.get("action"), actor: f.get("actor").trim(), instance_id: f.get("instance_id").trim() };
  for (const k of ["since", "until"]) {
    const v = f.get(k);
    if (v) q[k] = (v.length === 16 ? v + ":00" : v) + "Z";
  }
  return q;
}

async function loadAudit() {
  const data = await api("GET", "/v1/phonefleet/audit", undefined, { query: auditQuery() });
  state.audit.total = data.total_count;
  // Each cell names its column, so that on a phone a row reads as a card.
  const cell = (col, label, ...content) => el("td", { "data-col": col, "data-label": label }, ...content);
  $("#audit tbody").replaceChildren(...data.result.map((a) => el("tr", { "data-id": String(a.id), "data-dry-run": String(a.dry_run), class: a.dry_run ? "dry-run" : "" },
    cell("at", "When", when(a.at)),
    cell("action", "Action", a.action),
    el("td", { "data-col": "result", "data-label": "Result" },
      a.error_code === "0" ? el("span", { class: "badge running" }, "OK") : el("span", { class: "badge failed" }, a.error_code),
      a.dry_run ? " " : null, a.dry_run ? el("span", { class: "badge dry-run", title: "A preview: nothing was changed" }, "dry run") : null),
    cell("actor", "Actor", a.actor || "–"),
    cell("addr", "Address", a.client_addr || "–"),
    cell("ids", "Instances", a.instance_ids.slice(0, 5).join(", ") + (a.instance_ids.length > 5 ? ` +${a.instance_ids.length - 5}` : "")),
    el("td", { "data-col": "detail", "data-label": "Detail" }, el("span", { class: "reason" }, a.detail)),
    cell("request", "Request", el("code", {}, a.request_id)))));
  if (data.result.length === 0) $("#audit tbody").append(el("tr", {}, el("td", { colSpan: 8 }, "Nothing recorded yet.")));
  pager("audit", data);
}

// exportAudit downloads every event matching the filters as CSV or JSON
// lines (the API streams them; the token goes in a header, so the file is
// fetched and handed to the browser).
async function exportAudit(format) {
  clearMessages();
  const q = auditQuery();
  delete q.page_no; delete q.page_size;
  q.format = format;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v) params.set(k, v);
  const resp = await fetch("/v1/phonefleet/audit?" + params.toString(), { headers: { "X-Auth-Token": state.token, "X-Request-Id": requestID() } });
  if (!resp.ok) {
    const env = await resp.json().catch(() => null);
    throw new APIError(env ? env.error_code : "HTTP " + resp.status, env ? env.error_msg : "Export failed (HTTP " + resp.status + ")", resp.status);
  }
  // Object URLs (blob:) point into this page, not at another host.
  const toObject = URL.createObjectURL.bind(URL), revoke = URL.revokeObjectURL.bind(URL);
  const url = toObject(await resp.blob());
  const a = el("a", { href: url, download: "audit." + format });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => revoke(url), 10000);
}

function pager(name, data) {
  const pages = Math.max(1, Math.ceil(data.total_count / data.page_size));
  $(`#${name}-page`).textContent = `Page ${data.page_no} of ${pages} · ${data.total_count} in all`;
  $(`#${name}-prev`).disabled = data.page_no <= 1;
  $(`#${name}-next`).disabled = data.page_no >= pages;
  $(`#${name}`).dataset.total = String(data.total_count);
}

// ---- wiring ----------------------------------------------------------------

function wire() {
  const guard = (fn) => (...args) => Promise.resolve().then(() => fn(...args)).catch(showError);
  $("#signin-form").addEventListener("submit", guard((e) => { e.preventDefault(); clearMessages(); return signInWithPassword(e.target); }));
  $("#token-form").addEventListener("submit", guard((e) => {
    e.preventDefault(); clearMessages();
    return useToken(new FormData(e.target).get("token").trim(), "token", undefined);
  }));
  $("#signout").addEventListener("click", () => signOut());
  $("#filters").addEventListener("submit", guard((e) => { e.preventDefault(); clearMessages(); state.fleet.page = 1; return loadFleet(); }));
  $("#fleet-prev").addEventListener("click", guard(() => { state.fleet.page--; return loadFleet(); }));
  $("#fleet-next").addEventListener("click", guard(() => { state.fleet.page++; return loadFleet(); }));
  $("#select-all").addEventListener("change", (e) => {
    const want = e.target.checked;
    for (const b of $$("#fleet tbody input[type=checkbox]:not(:disabled)")) if (b.checked !== want) b.click();
  });
  $("#act-unsubscribe").addEventListener("click", guard(unsubscribe));
  $("#act-delete").addEventListener("click", guard(deletePayPerUse));
  $("#act-assign").addEventListener("click", guard(assign));
  $("#act-reboot").addEventListener("click", guard(() => command("reboot")));
  $("#act-reset").addEventListener("click", guard(() => command("reset")));
  const buyForm = $("#buy-form");
  buyForm.elements.regionId.addEventListener("change", fillSKUs);
  buyForm.elements.instanceSkuId.addEventListener("change", fillBands);
  for (const n of ["count", "periodNum", "billing", "bandSize"]) buyForm.elements[n].addEventListener("input", updatePrice);
  buyForm.addEventListener("submit", guard((e) => { e.preventDefault(); return buy(); }));
  for (const name of ["refunds", "audit"]) {
    const load = name === "refunds" ? loadRefunds : loadAudit;
    $(`#${name}-prev`).addEventListener("click", guard(() => { state[name].page--; return load(); }));
    $(`#${name}-next`).addEventListener("click", guard(() => { state[name].page++; return load(); }));
  }
  $("#audit-filters").addEventListener("submit", guard((e) => { e.preventDefault(); clearMessages(); state.audit.page = 1; return loadAudit(); }));
  $("#audit-export-csv").addEventListener("click", guard(() => exportAudit("csv")));
  $("#audit-export-jsonl").addEventListener("click", guard(() => exportAudit("jsonl")));
  wireOperator(guard);
  window.addEventListener("hashchange", () => { clearMessages(); route(); });
}

wire();
route();
