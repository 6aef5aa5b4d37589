// phonefleet console, operator pages: tenants, hosts, failed jobs and the
// audit across tenants, all through the admin API (/v1/phonefleet/admin/).
// Loaded before console.js, whose helpers ($, el, api, ...) these
// functions call; it defines functions only.
"use strict";

const OPERATOR_DOMAIN = "phonefleet-operators";
const ADMIN = "/v1/phonefleet/admin";

// operatorCanWrite reports whether the signed-in operator may change
// things: operator-viewers may only read. (A pasted token's role is not
// known: its writes are tried, and a refusal shows the API's message.)
function operatorCanWrite() { return state.role !== "operator-viewer"; }

// writeButton returns a button that is disabled, saying why, for an
// operator who may only read.
function writeButton(label, attrs, onClick) {
  const b = el("button", { type: "button", ...attrs }, label);
  if (!operatorCanWrite()) {
    b.disabled = true;
    b.title = "operator-viewer: read only";
  } else {
    b.addEventListener("click", () => Promise.resolve().then(onClick).catch(showError));
  }
  return b;
}

// ---- tenants ----------------------------------------------------------------

async function loadTenants() {
  const tenants = await api("GET", ADMIN + "/tenants");
  state.opTenants = tenants.map((t) => t.name);
  const cell = (col, label, attrs, ...content) => el("td", { "data-col": col, "data-label": label, ...attrs }, ...content);
  const count = (t, s) => String((t.instances && t.instances[s]) || 0);
  $("#tenants tbody").replaceChildren(...tenants.map((t) => {
    const suspended = Boolean(t.suspended_at);
    const action = suspended
      ? writeButton("Resume", { "data-action": "resume" }, () => setSuspended(t.name, false))
      : writeButton("Suspend…", { "data-action": "suspend" }, () => setSuspended(t.name, true));
    return el("tr", { "data-name": t.name, "data-suspended": String(suspended), class: suspended ? "suspended" : "" },
      cell("name", "Tenant", {}, el("strong", {}, t.name), el("span", { class: "reason" }, t.id)),
      cell("running", "Running", { class: "num" }, count(t, "running")),
      cell("expired", "Expired", { class: "num" }, count(t, "expired")),
      cell("frozen", "Frozen", { class: "num" }, count(t, "frozen")),
      cell("deleting", "Going offline", { class: "num" }, count(t, "deleting")),
      cell("released", "Released", { class: "num" }, count(t, "released")),
      cell("quota", "Quota", { class: "num", "data-held": String(t.held_instances), "data-max": String(t.max_instances) },
        `${t.held_instances} / ${t.max_instances === 0 ? "unlimited" : t.max_instances}`),
      cell("revenue", "Revenue (month)", { class: "num", "data-minor": String(t.month_revenue || 0) }, money(t.month_revenue || 0, t.currency || "USD")),
      cell("refunds", "Refunds (month)", { class: "num", "data-minor": String(t.month_refunds || 0) }, money(t.month_refunds || 0, t.currency || "USD")),
      cell("status", "Status", {}, suspended
        ? el("span", { class: "badge failed", title: "since " + when(t.suspended_at) }, "suspended")
        : el("span", { class: "badge running" }, "active")),
      cell("actions", "Actions", {}, action));
  }));
  if (tenants.length === 0) $("#tenants tbody").append(el("tr", {}, el("td", { colSpan: 9 }, "No tenants yet: phonefleet tenant create NAME.")));
  const months = [...new Set(tenants.map((t) => t.month).filter(Boolean))];
  $("#tenants-month").textContent = months.length
    ? `Revenue is what each tenant bought in ${months.join(", ")} (UTC, its business time); refunds are what it got back that month. Quota: instances held / most allowed.`
    : "";
  $("#tenants").dataset.total = String(tenants.length);
  $("#tenants").dataset.loaded = String(Date.now());
}

async function setSuspended(name, suspend) {
  clearMessages();
  if (suspend) {
    const body = el("p", {}, `Every API call of ${name} will be refused with "Services not subscribed." until it is resumed. Its phones keep running.`);
    if (!(await ask(`Suspend ${name}?`, body, `Suspend ${name}`))) return;
  }
  await api("POST", `${ADMIN}/tenants/${encodeURIComponent(name)}/${suspend ? "suspend" : "resume"}`);
  notice(`${name} ${suspend ? "suspended" : "resumed"}.`);
  await loadTenants();
}

// ---- hosts ------------------------------------------------------------------

// loadHosts shows the data plane's hosts when the server has them. A
// server without hosts answers the route with 404 APIGW.0101 (no such
// API): then the page says so.
async function loadHosts() {
  let hosts;
  try {
    hosts = await api("GET", ADMIN + "/hosts");
  } catch (e) {
    if (!(e instanceof APIError && e.status === 404 && e.code === "APIGW.0101")) throw e;
    $("#hosts-wrap").hidden = true;
    $("#hosts-empty").hidden = false;
    $("#hosts").dataset.available = "false";
    $("#hosts").dataset.total = "0";
    return;
  }
  const list = Array.isArray(hosts) ? hosts : (hosts && (hosts.result || hosts.hosts)) || [];
  const cell = (col, label, attrs, ...content) => el("td", { "data-col": col, "data-label": label, ...attrs }, ...content);
  const num = (v) => (v === undefined || v === null ? "–" : String(v));
  $("#hosts tbody").replaceChildren(...list.map((h) => {
    const down = h.unreachable === true || h.state === "unreachable";
    const drift = h.drift === undefined || h.drift === null ? "–" : typeof h.drift === "object" ? JSON.stringify(h.drift) : String(h.drift);
    return el("tr", { "data-id": String(h.id || h.name || "") },
      cell("name", "Host", {}, String(h.name || h.id || "–"), h.address || h.url ? el("span", { class: "reason" }, String(h.address || h.url)) : null),
      cell("region", "Region", {}, String(h.region || "–")),
      cell("capacity", "Capacity", { class: "num" }, num(h.capacity)),
      cell("free", "Free", { class: "num" }, num(h.free)),
      cell("state", "State", {}, down ? el("span", { class: "badge failed" }, "unreachable") : el("span", { class: "badge running" }, String(h.state || "reachable"))),
      cell("drift", "Drift", {}, drift));
  }));
  if (list.length === 0) $("#hosts tbody").append(el("tr", {}, el("td", { colSpan: 6 }, "No hosts registered.")));
  $("#hosts-empty").hidden = true;
  $("#hosts-wrap").hidden = false;
  $("#hosts").dataset.available = "true";
  $("#hosts").dataset.total = String(list.length);
}

// ---- failed jobs --------------------------------------------------------------

async function loadJobs() {
  const jobs = await api("GET", ADMIN + "/jobs", undefined, { query: { state: "failed", limit: 200 } });
  const cell = (col, label, attrs, ...content) => el("td", { "data-col": col, "data-label": label, ...attrs }, ...content);
  $("#jobs tbody").replaceChildren(...jobs.map((j) => el("tr", { "data-id": j.job_id, "data-instance": j.instance_id },
    cell("instance", "Instance", {}, el("code", {}, j.instance_id)),
    cell("tenant", "Tenant", {}, j.tenant || j.tenant_id),
    cell("type", "Type", {}, j.type),
    cell("attempts", "Attempts", { class: "num" }, String(j.attempts)),
    cell("error", "Last error", {}, el("span", { class: "reason" }, j.last_error || "–")),
    cell("created", "Created", {}, when(j.created_at)),
    cell("job", "Job", {}, el("code", {}, j.job_id)),
    cell("actions", "Actions", {}, writeButton("Retry", { "data-action": "retry", "aria-label": `Retry job ${j.job_id}` }, () => retryJob(j))))));
  if (jobs.length === 0) $("#jobs tbody").append(el("tr", {}, el("td", { colSpan: 8 }, "No failed jobs.")));
  $("#jobs").dataset.total = String(jobs.length);
  $("#jobs").dataset.loaded = String(Date.now());
}

async function retryJob(j) {
  clearMessages();
  await api("POST", `${ADMIN}/jobs/${encodeURIComponent(j.job_id)}/retry`);
  notice(`Job ${j.job_id} (${j.type} of ${j.instance_id}) is pending again: the data plane gets it once more.`);
  await loadJobs();
}

// ---- audit across tenants ---------------------------------------------------

const OPAUDIT_PAGE = 50;

// opAuditQuery returns the admin audit's query: the filters, and before_id
// for a page past the newest (the list is newest first, paged by ID).
function opAuditQuery() {
  const f = new FormData($("#opaudit-filters"));
  const q = { limit: OPAUDIT_PAGE, tenant: f.get("tenant"), action: f.get("action").trim(), actor: f.get("actor").trim(), instance_id: f.get("instance_id").trim() };
  for (const k of ["since", "until"]) {
    const v = f.get(k);
    if (v) q[k] = (v.length === 16 ? v + ":00" : v) + "Z";
  }
  const before = state.opaudit.stack[state.opaudit.stack.length - 1];
  if (before) q.before_id = before;
  return q;
}

async function fillTenantFilter() {
  const select = $("#opaudit-filters").elements.tenant;
  if (select.options.length > 2) return;
  const names = state.opTenants || (await api("GET", ADMIN + "/tenants")).map((t) => t.name);
  state.opTenants = names;
  select.append(...names.map((n) => el("option", { value: n }, n)));
}

async function loadOpAudit() {
  await fillTenantFilter();
  const events = await api("GET", ADMIN + "/audit", undefined, { query: opAuditQuery() });
  const cell = (col, label, ...content) => el("td", { "data-col": col, "data-label": label }, ...content);
  $("#opaudit tbody").replaceChildren(...events.map((a) => el("tr", { "data-id": String(a.id), "data-dry-run": String(a.dry_run), class: a.dry_run ? "dry-run" : "" },
    cell("at", "When", when(a.at)),
    cell("tenant", "Tenant", a.tenant === OPERATOR_DOMAIN ? el("em", {}, "operators") : a.tenant || "–"),
    cell("action", "Action", a.action),
    el("td", { "data-col": "result", "data-label": "Result" },
      a.error_code === "0" ? el("span", { class: "badge running" }, "OK") : el("span", { class: "badge failed" }, a.error_code),
      a.dry_run ? " " : null, a.dry_run ? el("span", { class: "badge dry-run", title: "A preview: nothing was changed" }, "dry run") : null),
    cell("actor", "Actor", a.actor || "–"),
    cell("addr", "Address", a.client_addr || "–"),
    cell("ids", "Instances", a.instance_ids.slice(0, 5).join(", ") + (a.instance_ids.length > 5 ? ` +${a.instance_ids.length - 5}` : "")),
    el("td", { "data-col": "detail", "data-label": "Detail" }, el("span", { class: "reason" }, a.detail)),
    cell("request", "Request", el("code", {}, a.request_id)))));
  if (events.length === 0) $("#opaudit tbody").append(el("tr", {}, el("td", { colSpan: 9 }, "Nothing recorded matches.")));
  state.opaudit.last = events.length ? events[events.length - 1].id : null;
  const n = state.opaudit.stack.length;
  $("#opaudit-page").textContent = `${n === 0 ? "Newest" : "Older"} ${events.length} event${events.length === 1 ? "" : "s"}`;
  $("#opaudit-newer").disabled = n === 0;
  $("#opaudit-older").disabled = events.length < OPAUDIT_PAGE;
  $("#opaudit").dataset.count = String(events.length);
  $("#opaudit").dataset.loaded = String(Date.now());
}

// wireOperator connects the operator pages' controls; console.js calls it.
function wireOperator(guard) {
  state.opaudit = { stack: [], last: null };
  $("#opaudit-filters").addEventListener("submit", guard((e) => { e.preventDefault(); clearMessages(); state.opaudit.stack = []; return loadOpAudit(); }));
  $("#opaudit-older").addEventListener("click", guard(() => { state.opaudit.stack.push(state.opaudit.last); return loadOpAudit(); }));
  $("#opaudit-newer").addEventListener("click", guard(() => { state.opaudit.stack.pop(); return loadOpAudit(); }));
  $("#jobs-reload").addEventListener("click", guard(() => { clearMessages(); return loadJobs(); }));
  const form = $("#signin-form");
  form.elements.operator.addEventListener("change", () => {
    const d = form.elements.domain;
    if (form.elements.operator.checked) { d.value = OPERATOR_DOMAIN; d.readOnly = true; } else { if (d.value === OPERATOR_DOMAIN) d.value = ""; d.readOnly = false; }
  });
}
