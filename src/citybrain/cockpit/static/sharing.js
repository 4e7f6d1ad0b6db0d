/* CityBrain data sharing (/sharing): signs in against the API and drives /sharing/...
   The bearer token lives in this tab's sessionStorage only. No inline code, no innerHTML:
   every message comes from the page's data-config (the locale catalogues), every value the
   API returns is inserted as text. */
(() => {
  "use strict";

  const root = document.getElementById("sharing");
  if (!root) {
    return;
  }
  const config = JSON.parse(root.getAttribute("data-config") || "{}");
  const M = config.messages || {};
  const zh = config.locale === "zh-CN";
  const TOKEN_KEY = "citybrain.sharing.token";
  const PAGE_LIMIT = 200;
  const MAX_PAGES = 10;

  const byId = (id) => document.getElementById(id);
  const ui = {
    notice: root.querySelector('[data-testid="notice"]'),
    signinPanel: byId("signin-panel"),
    signinForm: byId("signin-form"),
    signinError: root.querySelector('[data-testid="signin-error"]'),
    sessionPanel: byId("session-panel"),
    sessionUser: root.querySelector('[data-testid="session-user"]'),
    sessionOrg: root.querySelector('[data-testid="session-org"]'),
    sessionRoles: root.querySelector('[data-testid="session-roles"]'),
    workspace: byId("workspace"),
    requestForm: byId("request-form"),
    reqDataset: byId("req-dataset"),
    reqDatasetInfo: byId("req-dataset-info"),
    reqFieldList: byId("req-field-list"),
    reqPurpose: byId("req-purpose"),
    reqLegalRequired: byId("req-legal-required"),
    reqLegalHint: byId("req-legal-hint"),
    reqLegalBasis: byId("req-legal-basis"),
    requestError: root.querySelector('[data-testid="request-error"]'),
    requestResult: root.querySelector('[data-testid="request-result"]'),
    incomingList: byId("incoming-list"),
    incomingNone: byId("incoming-none"),
    outgoingBody: byId("outgoing-body"),
    outgoingNone: byId("outgoing-none"),
    previewPanel: byId("preview-panel"),
    previewTitle: byId("preview-title"),
    previewNote: byId("preview-note"),
    previewError: root.querySelector('[data-testid="preview-error"]'),
    previewHead: byId("preview-head"),
    previewBody: byId("preview-body"),
    previewNone: byId("preview-none"),
  };

  const state = {
    token: null,
    me: null,
    datasets: new Map(), // id -> catalogue hit (title, provider, sharing, schema, pii fields)
    purposes: new Map(), // code -> {zh, en}
    orgNames: new Map(), // organisation code -> name
    generation: 0, // bumps at sign-in and sign-out: late answers of an old session are dropped
  };

  /* ---------- text and DOM helpers ---------- */

  function msg(key, values) {
    const template = Object.prototype.hasOwnProperty.call(M, key) ? M[key] : key;
    return String(template).replace(/\{(\w+)\}/g, (whole, name) =>
      values && Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole,
    );
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) {
        continue;
      }
      if (key === "text") {
        node.textContent = String(value);
      } else if (key === "class") {
        node.className = value;
      } else if (key === "testid") {
        node.setAttribute("data-testid", value);
      } else {
        node.setAttribute(key, value === true ? "" : String(value));
      }
    }
    for (const child of children) {
      if (child !== null && child !== undefined && child !== false) {
        node.append(child instanceof Node ? child : String(child));
      }
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) {
      node.removeChild(node.firstChild);
    }
  }

  function show(node, visible) {
    node.hidden = !visible;
  }

  function notice(text) {
    ui.notice.textContent = text || "";
    show(ui.notice, Boolean(text));
  }

  const NONE = () => msg("common.none");

  function when(iso) {
    if (!iso) {
      return NONE();
    }
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) {
      return String(iso);
    }
    const pad = (n) => String(n).padStart(2, "0");
    return (
      `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
      `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} UTC`
    );
  }

  function pick(pair) {
    if (!pair) {
      return "";
    }
    return zh ? pair.zh || pair.en || "" : pair.en || pair.zh || "";
  }

  function datasetTitle(id) {
    const ds = state.datasets.get(id);
    return ds ? pick(ds.title) : id;
  }

  function orgName(code) {
    const name = state.orgNames.get(code) || code;
    return state.me && code === state.me.organisation_code ? msg("common.own_org", { name }) : name;
  }

  function purposeLabel(code) {
    const p = state.purposes.get(code);
    return p ? pick(p) : code;
  }

  function maskKind(spec) {
    if (spec && typeof spec === "object") {
      return spec.kind || "";
    }
    return spec || "NONE";
  }

  function maskLabel(spec) {
    const kind = String(maskKind(spec)).toUpperCase();
    const label = Object.prototype.hasOwnProperty.call(M, `mask.${kind}`) ? msg(`mask.${kind}`) : kind;
    if (spec && typeof spec === "object" && spec.width) {
      return `${label} ${spec.width}`;
    }
    return label;
  }

  function badge(text, tone, testid) {
    return el("span", { class: `sh-badge sh-badge--${tone}`, text, testid });
  }

  /* ---------- the API ---------- */

  class Problem extends Error {
    constructor(status, body) {
      super((body && body.detail) || String(status));
      this.status = status;
      this.body = body || {};
    }
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json", "Accept-Language": config.locale || "zh-CN" };
    if (state.token) {
      headers.Authorization = `Bearer ${state.token}`;
    }
    const init = { method, headers, cache: "no-store", credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      throw new Problem(0, { detail: msg("error.network") });
    }
    if (response.status === 204) {
      return null;
    }
    let data = null;
    try {
      data = await response.json();
    } catch (err) {
      data = null;
    }
    if (!response.ok) {
      const problem = new Problem(response.status, data || { detail: response.statusText });
      if (response.status === 401 && state.token && path !== "/auth/logout") {
        expire();
      }
      throw problem;
    }
    return data;
  }

  /* Every item of a paged list (Page: items, next_cursor), up to MAX_PAGES pages. */
  async function all(path) {
    const items = [];
    let cursor = null;
    for (let page = 0; page < MAX_PAGES; page += 1) {
      const sep = path.includes("?") ? "&" : "?";
      const more = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
      const out = await api("GET", `${path}${sep}limit=${PAGE_LIMIT}${more}`);
      items.push(...(out.items || []));
      cursor = out.next_cursor;
      if (!cursor) {
        break;
      }
    }
    return items;
  }

  /* ---------- problems next to their form ---------- */

  function problemBox(testid) {
    return el("div", { class: "sh-problem", role: "alert", testid, hidden: true });
  }

  function fieldBase(field) {
    return String(field || "").split(/[.[]/)[0];
  }

  function clearProblem(box, form) {
    clear(box);
    show(box, false);
    if (form) {
      for (const node of form.querySelectorAll("[aria-invalid]")) {
        node.removeAttribute("aria-invalid");
      }
    }
  }

  function showProblem(box, err, form) {
    clearProblem(box, form);
    const body = (err && err.body) || {};
    const detail = body.detail || (err && err.message) || "";
    box.append(el("strong", { class: "sh-problem__title", text: body.title || msg("error.title") }));
    const field = body.field ? String(body.field) : "";
    if (field) {
      const base = fieldBase(field);
      const key = `field.${base}`;
      const label = Object.prototype.hasOwnProperty.call(M, key) ? msg(key) : base;
      box.append(
        el("span", {
          class: "sh-problem__field",
          testid: "problem-field",
          "data-field": field,
          text: msg("error.field", { label, field }),
        }),
      );
      const target = form && form.querySelector(`[data-field="${CSS.escape(base)}"]`);
      if (target) {
        target.setAttribute("aria-invalid", "true");
      }
    }
    if (detail) {
      box.append(el("span", { class: "sh-problem__detail", testid: "problem-detail", text: detail }));
    }
    show(box, true);
  }

  /* ---------- session ---------- */

  function saveToken(token) {
    state.token = token;
    try {
      if (token) {
        sessionStorage.setItem(TOKEN_KEY, token);
      } else {
        sessionStorage.removeItem(TOKEN_KEY);
      }
    } catch (err) {
      /* storage refused (private mode): the token lives in memory for this page only */
    }
  }

  function signedOutView() {
    state.generation += 1;
    state.me = null;
    state.datasets.clear();
    state.purposes.clear();
    state.orgNames.clear();
    show(ui.sessionPanel, false);
    show(ui.workspace, false);
    show(ui.signinPanel, true);
    for (const node of [ui.incomingList, ui.outgoingBody, ui.reqFieldList, ui.reqPurpose]) {
      clear(node);
    }
    ui.requestForm.reset(); // nothing typed by one user is left for the next
    ui.reqDataset.length = 1;
    ui.reqDatasetInfo.textContent = "";
    clearProblem(ui.requestError, ui.requestForm);
    show(ui.requestResult, false);
    closePreview();
  }

  function expire() {
    saveToken(null);
    signedOutView();
    notice(msg("signin.expired"));
  }

  async function signIn(event) {
    event.preventDefault();
    clearProblem(ui.signinError, ui.signinForm);
    notice("");
    const name = ui.signinForm.elements.name.value.trim();
    const password = ui.signinForm.elements.password.value;
    const button = ui.signinForm.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const out = await api("POST", "/auth/login", { name, password });
      if (out.must_change_password) {
        showProblem(ui.signinError, new Problem(403, { detail: msg("signin.must_change") }));
        return;
      }
      saveToken(out.access_token);
      ui.signinForm.elements.password.value = "";
      await start();
    } catch (err) {
      showProblem(ui.signinError, err, ui.signinForm);
    } finally {
      button.disabled = false;
    }
  }

  async function signOut() {
    notice("");
    if (state.token) {
      try {
        await api("POST", "/auth/logout");
      } catch (err) {
        /* the token is dropped here whatever the server says */
      }
    }
    saveToken(null);
    signedOutView();
    notice(msg("signin.signed_out"));
    ui.signinForm.elements.name.focus();
  }

  async function start() {
    const generation = ++state.generation;
    let me;
    try {
      me = await api("GET", "/me");
    } catch (err) {
      if (err.status !== 401) {
        showProblem(ui.signinError, err, ui.signinForm);
      }
      return;
    }
    if (generation !== state.generation) {
      return;
    }
    state.me = me;
    let orgLabel = me.organisation_code;
    try {
      const org = await api("GET", `/orgs/${encodeURIComponent(me.organisation_code)}`);
      orgLabel = zh ? org.name : org.name_en || org.name;
      state.orgNames.set(org.code, orgLabel);
    } catch (err) {
      /* the code stands in for the name */
    }
    ui.sessionUser.textContent = me.display_name ? `${me.display_name} (${me.name})` : me.name;
    ui.sessionOrg.textContent = orgLabel;
    ui.sessionRoles.textContent = msg("signin.roles", { roles: (me.roles || []).join(", ") });
    show(ui.signinPanel, false);
    show(ui.sessionPanel, true);
    show(ui.workspace, true);
    try {
      await Promise.all([loadPurposes(), loadDatasets()]);
    } catch (err) {
      showProblem(ui.requestError, err, ui.requestForm);
    }
    if (generation === state.generation) {
      await refreshLists();
    }
  }

  /* ---------- request form ---------- */

  async function loadPurposes() {
    const purposes = await api("GET", "/sharing/purposes");
    clear(ui.reqPurpose);
    for (const p of purposes) {
      state.purposes.set(p.code, p);
      ui.reqPurpose.append(el("option", { value: p.code, text: pick(p) }));
    }
  }

  async function loadDatasets() {
    const hits = await all("/catalog/datasets");
    ui.reqDataset.length = 1;
    const mine = state.me ? state.me.organisation_code : "";
    let offered = 0;
    for (const ds of hits) {
      state.datasets.set(ds.id, ds);
      if (ds.provider) {
        state.orgNames.set(ds.provider.code, zh ? ds.provider.name : ds.provider.name_en || ds.provider.name);
      }
      if (ds.provider && ds.provider.code === mine) {
        continue; // a provider reads its own data without a grant
      }
      const text = `${pick(ds.title)} · ${pick(ds.sharing)}`;
      const code = ds.sharing ? ds.sharing.code : "";
      ui.reqDataset.append(el("option", { value: ds.id, text, "data-sharing": code }));
      offered += 1;
    }
    ui.reqDataset.options[0].textContent = offered ? msg("request.choose") : msg("request.no_datasets");
    renderDatasetChoice();
  }

  function fieldsOf(ds) {
    const schema = (ds && ds.schema) || {};
    return Array.isArray(schema.fields) ? schema.fields : [];
  }

  function piiBadges(ds, name) {
    const out = [];
    if (ds && (ds.sensitive_pii_fields || []).includes(name)) {
      out.push(badge(msg("request.sensitive_pii"), "bad", `pii-${name}`));
    } else if (ds && (ds.pii_fields || []).includes(name)) {
      out.push(badge(msg("request.pii"), "warn", `pii-${name}`));
    }
    return out;
  }

  function renderDatasetChoice() {
    const ds = state.datasets.get(ui.reqDataset.value);
    clear(ui.reqFieldList);
    clear(ui.reqDatasetInfo);
    const none = Boolean(ds && ds.sharing && ds.sharing.code === "none");
    show(ui.reqLegalRequired, none);
    show(ui.reqLegalHint, none);
    ui.reqLegalBasis.setAttribute("aria-required", none ? "true" : "false");
    if (!ds) {
      return;
    }
    const tone = { unconditional: "ok", conditional: "warn", none: "bad" }[ds.sharing.code] || "idle";
    ui.reqDatasetInfo.append(
      msg("common.label", { label: msg("request.provider") }),
      el("span", { testid: "req-provider", text: orgName(ds.provider.code) }),
      " · ",
      msg("common.label", { label: msg("request.sharing") }),
      badge(pick(ds.sharing), tone, "req-sharing"),
    );
    for (const field of fieldsOf(ds)) {
      const title = field.title ? ` ${field.title}` : "";
      ui.reqFieldList.append(
        el(
          "label",
          { class: "sh-check" },
          el("input", {
            type: "checkbox",
            name: "fields",
            value: field.name,
            testid: `req-field-${field.name}`,
          }),
          " ",
          el("code", { text: field.name }),
          title,
          " ",
          ...piiBadges(ds, field.name),
        ),
      );
    }
  }

  async function submitRequest(event) {
    event.preventDefault();
    clearProblem(ui.requestError, ui.requestForm);
    show(ui.requestResult, false);
    const form = ui.requestForm;
    const checked = [...form.querySelectorAll('input[name="fields"]:checked')].map((i) => i.value);
    const mode = form.querySelector('input[name="mode"]:checked');
    const termText = form.elements.term_days.value.trim();
    const body = {
      dataset: ui.reqDataset.value,
      fields: checked,
      purpose: ui.reqPurpose.value,
      purpose_text: form.elements.purpose_text.value,
      legal_basis: form.elements.legal_basis.value,
      term_days: termText === "" ? null : Number(termText),
      mode: mode ? mode.value : "records",
    };
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const out = await api("POST", "/sharing/requests", body);
      const text =
        out.status === "approved" && out.grant
          ? msg("request.granted", { id: out.id, grant: out.grant.id, expires: when(out.grant.expires_at) })
          : msg("request.pending", { id: out.id, due: when(out.sla_due_at) });
      ui.requestResult.textContent = text;
      ui.requestResult.setAttribute("data-status", out.status);
      show(ui.requestResult, true);
      form.reset();
      renderDatasetChoice();
      await refreshLists();
    } catch (err) {
      showProblem(ui.requestError, err, form);
    } finally {
      button.disabled = false;
    }
  }

  /* ---------- lists ---------- */

  async function refreshLists() {
    const generation = state.generation;
    const results = await Promise.allSettled([
      all("/sharing/requests?side=incoming&status=pending"),
      all("/sharing/requests?side=outgoing"),
      all("/sharing/grants?side=all"),
    ]);
    if (generation !== state.generation) {
      return;
    }
    const [incoming, outgoing, grants] = results;
    if (incoming.status === "fulfilled") {
      await renderIncoming(incoming.value);
    }
    if (outgoing.status === "fulfilled") {
      renderOutgoing(outgoing.value);
    }
    if (grants.status === "fulfilled") {
      renderGrants(grants.value);
    }
    const failed = results.find((r) => r.status === "rejected");
    if (failed && state.token) {
      notice(`${msg("error.title")}: ${failed.reason.message}`);
    }
  }

  async function datasetInfo(id) {
    if (!state.datasets.has(id)) {
      try {
        state.datasets.set(id, await api("GET", `/catalog/datasets/${encodeURIComponent(id)}`));
      } catch (err) {
        return null;
      }
    }
    return state.datasets.get(id);
  }

  function fact(label, value, testid) {
    return [el("dt", { text: label }), el("dd", { testid }, value)];
  }

  function defaultMask(ds, name) {
    if (ds && (ds.sensitive_pii_fields || []).includes(name)) {
      return config.sensitive_mask || "HASH";
    }
    if (ds && (ds.pii_fields || []).includes(name)) {
      return config.pii_mask || "MASK";
    }
    return "NONE";
  }

  async function renderIncoming(requests) {
    const cards = [];
    for (const req of requests) {
      cards.push(decisionCard(req, await datasetInfo(req.dataset)));
    }
    clear(ui.incomingList);
    ui.incomingList.append(...cards);
    show(ui.incomingNone, requests.length === 0);
  }

  function decisionCard(req, ds) {
    const id = req.id;
    const needsBasis = Boolean((ds && ds.sharing && ds.sharing.code === "none") || (!ds && req.legal_basis));
    const facts = el(
      "dl",
      { class: "sh-facts" },
      ...fact(msg("col.requester"), orgName(req.requester), `incoming-${id}-requester`),
      ...fact(msg("col.requested_by"), req.requested_by),
      ...fact(msg("col.fields"), req.fields.join(", "), `incoming-${id}-fields`),
      ...fact(
        msg("col.purpose"),
        req.purpose_text ? `${purposeLabel(req.purpose)} — ${req.purpose_text}` : purposeLabel(req.purpose),
        `incoming-${id}-purpose`,
      ),
      ...fact(msg("col.legal_basis"), req.legal_basis || NONE(), `incoming-${id}-legal-basis`),
      ...fact(msg("col.term"), String(req.term_days)),
      ...fact(msg("col.mode"), msg(`mode.${req.mode}`)),
      ...fact(msg("col.created"), when(req.created_at)),
      ...fact(msg("col.sla"), when(req.sla_due_at), `incoming-${id}-sla`),
    );

    const rows = req.fields.map((name) => {
      const select = el("select", {
        name: `mask-${name}`,
        "aria-label": `${msg("approve.mask")} ${name}`,
        testid: `mask-${id}-${name}`,
      });
      for (const kind of config.masks || []) {
        select.append(el("option", { value: kind, text: maskLabel(kind) }));
      }
      select.value = defaultMask(ds, name);
      const width = el("input", {
        type: "number",
        min: "2",
        value: "10",
        class: "sh-width",
        name: `width-${name}`,
        "aria-label": `${msg("approve.width")} ${name}`,
        testid: `width-${id}-${name}`,
      });
      width.hidden = select.value !== "GENERALIZE";
      select.addEventListener("change", () => {
        width.hidden = select.value !== "GENERALIZE";
      });
      const keep = el("input", {
        type: "checkbox",
        name: "keep",
        value: name,
        checked: true,
        "aria-label": `${msg("approve.keep")} ${name}`,
        testid: `keep-${id}-${name}`,
      });
      return el(
        "tr",
        {},
        el("td", {}, keep),
        el("td", {}, el("code", { text: name }), " ", ...piiBadges(ds, name)),
        el("td", {}, select),
        el("td", {}, width),
      );
    });
    const table = el(
      "table",
      { class: "sh-table sh-table--compact", "data-field": "fields" },
      el(
        "thead",
        {},
        el(
          "tr",
          {},
          el("th", { scope: "col", text: msg("approve.keep") }),
          el("th", { scope: "col", text: msg("approve.field") }),
          el("th", { scope: "col", text: msg("approve.mask") }),
          el("th", { scope: "col", text: msg("approve.width") }),
        ),
      ),
      el("tbody", {}, ...rows),
    );

    const termId = `term-${id}`;
    const reasonId = `reason-${id}`;
    const acceptId = `accept-${id}`;
    const term = el("input", {
      id: termId,
      type: "number",
      min: "1",
      max: String(req.term_days),
      value: String(req.term_days),
      "data-field": "term_days",
      testid: `term-${id}`,
    });
    const reason = el("textarea", {
      id: reasonId,
      rows: "2",
      maxlength: "2000",
      "data-field": "reason",
      testid: `reason-${id}`,
    });
    const accept = needsBasis
      ? el(
          "label",
          { class: "sh-check", "data-field": "accept_legal_basis" },
          el("input", { type: "checkbox", id: acceptId, name: "accept_legal_basis", testid: `accept-${id}` }),
          " ",
          msg("approve.accept_legal_basis"),
        )
      : null;
    const problem = problemBox(`decide-error-${id}`);
    const approveButton = el("button", {
      type: "submit",
      class: "sh-button sh-button--primary",
      text: msg("approve.approve"),
      testid: `approve-${id}`,
    });
    const rejectButton = el("button", {
      type: "button",
      class: "sh-button sh-button--danger",
      text: msg("approve.reject"),
      testid: `reject-${id}`,
    });
    const form = el(
      "form",
      { class: "sh-form", novalidate: true, testid: `decide-${id}` },
      el("div", { class: "sh-scroll" }, table),
      el(
        "div",
        { class: "sh-field" },
        el("label", { for: termId, text: msg("approve.term", { max: req.term_days }) }),
        term,
      ),
      accept,
      el("div", { class: "sh-field" }, el("label", { for: reasonId, text: msg("approve.reason") }), reason),
      el("div", { class: "sh-actions" }, approveButton, rejectButton),
      problem,
    );

    async function decide(approve) {
      clearProblem(problem, form);
      let body;
      if (approve) {
        const kept = [...form.querySelectorAll('input[name="keep"]:checked')].map((i) => i.value);
        const masks = {};
        for (const name of kept) {
          const kind = form.elements[`mask-${name}`].value;
          if (kind === "GENERALIZE") {
            const width = form.elements[`width-${name}`].value.trim();
            masks[name] = { kind, width: width === "" ? null : Number(width) };
          } else {
            masks[name] = kind;
          }
        }
        const termText = term.value.trim();
        body = {
          approve: true,
          fields: kept,
          masks,
          term_days: termText === "" ? null : Number(termText),
          accept_legal_basis: Boolean(accept && accept.querySelector("input").checked),
          reason: reason.value,
        };
      } else {
        body = { approve: false, reason: reason.value };
      }
      approveButton.disabled = true;
      rejectButton.disabled = true;
      try {
        const out = await api("POST", `/sharing/requests/${id}/decision`, body);
        notice(
          out.status === "approved" && out.grant
            ? msg("approve.approved", { id: out.id, grant: out.grant.id })
            : msg("approve.rejected", { id: out.id }),
        );
        await refreshLists();
      } catch (err) {
        showProblem(problem, err, form);
        approveButton.disabled = false;
        rejectButton.disabled = false;
      }
    }

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      decide(true);
    });
    rejectButton.addEventListener("click", () => decide(false));

    return el(
      "article",
      { class: "sh-card", testid: `incoming-${id}`, "data-request": String(id) },
      el("h3", {
        class: "sh-card__title",
        text: msg("incoming.request", { id, dataset: datasetTitle(req.dataset) }),
      }),
      facts,
      form,
    );
  }

  function statusBadge(status) {
    const tone = { pending: "idle", approved: "ok", rejected: "bad", lapsed: "warn" }[status] || "idle";
    return badge(msg(`status.${status}`), tone, "status");
  }

  function renderOutgoing(requests) {
    clear(ui.outgoingBody);
    const rows = [...requests].reverse(); // newest first
    for (const req of rows) {
      ui.outgoingBody.append(
        el(
          "tr",
          { testid: `outgoing-${req.id}`, "data-status": req.status },
          el("td", { text: `#${req.id}` }),
          el("td", { text: datasetTitle(req.dataset) }),
          el("td", { text: orgName(req.provider) }),
          el("td", { text: req.fields.join(", ") }),
          el("td", { text: purposeLabel(req.purpose) }),
          el("td", { text: String(req.term_days) }),
          el("td", { text: msg(`mode.${req.mode}`) }),
          el("td", {}, statusBadge(req.status)),
          el("td", { text: req.reason || NONE(), testid: "reason" }),
          el("td", { text: when(req.sla_due_at) }),
          el("td", { text: when(req.decided_at) }),
        ),
      );
    }
    show(ui.outgoingNone, requests.length === 0);
  }

  function grantState(grant) {
    if (grant.status === "revoked") {
      return "revoked";
    }
    return grant.live ? "active" : "expired";
  }

  function maskList(grant) {
    const list = el("ul", { class: "sh-masks" });
    for (const name of grant.fields) {
      const spec = Object.prototype.hasOwnProperty.call(grant.masks, name) ? grant.masks[name] : "NONE";
      list.append(
        el(
          "li",
          { testid: `grant-${grant.id}-mask-${name}`, "data-mask": maskKind(spec) },
          el("code", { text: name }),
          " ",
          el("span", { class: "muted", text: maskLabel(spec) }),
        ),
      );
    }
    return list;
  }

  function grantActions(grant) {
    const mine = state.me ? state.me.organisation_code : "";
    const cell = el("td", { class: "sh-actions-cell" });
    if (grant.grantee === mine && grant.live) {
      if (grant.mode === "records") {
        const button = el("button", {
          type: "button",
          class: "sh-button",
          text: msg("grant.preview"),
          testid: `preview-${grant.id}`,
        });
        button.addEventListener("click", () => preview(grant));
        cell.append(button);
      } else {
        cell.append(el("span", { class: "muted", text: msg("grant.sandbox_only") }));
      }
    }
    if (grant.provider === mine && grant.status === "active") {
      const inputId = `revoke-reason-${grant.id}`;
      const input = el("input", {
        id: inputId,
        maxlength: "2000",
        "data-field": "reason",
        testid: `revoke-reason-${grant.id}`,
      });
      const problem = problemBox(`revoke-error-${grant.id}`);
      const form = el(
        "form",
        { class: "sh-form sh-form--revoke", novalidate: true, testid: `revoke-${grant.id}` },
        el("label", { for: inputId, text: msg("grant.revoke_reason") }),
        input,
        el("button", { type: "submit", class: "sh-button sh-button--danger", text: msg("grant.revoke") }),
        problem,
      );
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        clearProblem(problem, form);
        try {
          await api("POST", `/sharing/grants/${grant.id}/revoke`, { reason: input.value });
          notice(msg("grant.revoked_msg", { id: grant.id }));
          await refreshLists();
        } catch (err) {
          showProblem(problem, err, form);
        }
      });
      cell.append(form);
    }
    if (grant.status === "revoked") {
      cell.append(
        el("span", {
          class: "muted",
          testid: `revoked-${grant.id}`,
          text: msg("grant.revoked_detail", {
            who: grant.revoked_by || NONE(),
            when: when(grant.revoked_at),
            reason: grant.revoke_reason || NONE(),
          }),
        }),
      );
    }
    return cell;
  }

  function renderGrants(grants) {
    const groups = { live: grants.filter((g) => g.live), ended: grants.filter((g) => !g.live) };
    for (const [group, list] of Object.entries(groups)) {
      const body = byId(`grants-${group}-body`);
      clear(body);
      for (const grant of [...list].reverse()) {
        const stateName = grantState(grant);
        const tone = { active: "ok", expired: "idle", revoked: "bad" }[stateName];
        body.append(
          el(
            "tr",
            { testid: `grant-${grant.id}`, "data-state": stateName },
            el("td", { text: `#${grant.id}` }),
            el("td", { text: datasetTitle(grant.dataset) }),
            el("td", { text: orgName(grant.provider) }),
            el("td", { text: orgName(grant.grantee) }),
            el("td", {}, maskList(grant)),
            el("td", { text: purposeLabel(grant.purpose) }),
            el("td", { text: msg(`mode.${grant.mode}`) }),
            el("td", {}, badge(msg(`grant.${stateName}`), tone, "grant-state")),
            el("td", { text: when(grant.expires_at) }),
            grantActions(grant),
          ),
        );
      }
      show(byId(`grants-${group}-none`), list.length === 0);
    }
  }

  /* ---------- preview through a grant ---------- */

  function closePreview() {
    show(ui.previewPanel, false);
    clear(ui.previewHead);
    clear(ui.previewBody);
    clearProblem(ui.previewError);
  }

  function cellText(value) {
    if (value === null || value === undefined) {
      return NONE();
    }
    return typeof value === "object" ? JSON.stringify(value) : String(value);
  }

  async function preview(grant) {
    closePreview();
    const limit = config.preview_rows || 20;
    ui.previewTitle.textContent = msg("preview.title", { id: grant.id });
    ui.previewNote.textContent = msg("preview.note", { limit, purpose: purposeLabel(grant.purpose) });
    show(ui.previewPanel, true);
    const query = `purpose=${encodeURIComponent(grant.purpose)}&limit=${limit}`;
    try {
      const out = await api("GET", `/sharing/grants/${grant.id}/records?${query}`);
      for (const name of out.fields) {
        const spec = Object.prototype.hasOwnProperty.call(out.masks, name) ? out.masks[name] : "NONE";
        ui.previewHead.append(
          el(
            "th",
            { scope: "col" },
            el("code", { text: name }),
            el("span", { class: "sh-masked", text: maskLabel(spec) }),
          ),
        );
      }
      for (const row of out.items) {
        ui.previewBody.append(
          el(
            "tr",
            { testid: "preview-row" },
            ...out.fields.map((name) => el("td", { text: cellText(row[name]), "data-field": name })),
          ),
        );
      }
      show(ui.previewNone, out.items.length === 0);
    } catch (err) {
      showProblem(ui.previewError, err);
    }
    ui.previewPanel.focus();
  }

  /* ---------- wiring ---------- */

  ui.signinForm.addEventListener("submit", signIn);
  byId("signout").addEventListener("click", signOut);
  byId("refresh").addEventListener("click", () => {
    notice("");
    refreshLists();
  });
  byId("preview-close").addEventListener("click", closePreview);
  ui.reqDataset.addEventListener("change", () => {
    clearProblem(ui.requestError, ui.requestForm);
    renderDatasetChoice();
  });
  ui.requestForm.addEventListener("submit", submitRequest);

  let stored = null;
  try {
    stored = sessionStorage.getItem(TOKEN_KEY);
  } catch (err) {
    stored = null;
  }
  if (stored) {
    state.token = stored;
    start().then(() => {
      if (!state.me) {
        show(ui.signinPanel, true);
      }
    });
  } else {
    show(ui.signinPanel, true);
  }
})();
