/* CityBrain data sharing (/sharing), the request form: the purposes and the datasets on
   offer (with their fields and personal information), and the request sent to a provider.
   A part of sharing.js (window.CityBrainSharing), loaded after it. */
(() => {
  "use strict";

  const S = window.CityBrainSharing;
  if (!S) {
    return;
  }
  const { ui, state, zh, el, clear, show, msg, when, pick, orgName, badge, piiBadges, api, all } = S;
  const { clearProblem, showProblem } = S;

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
      await S.refreshLists();
    } catch (err) {
      showProblem(ui.requestError, err, form);
    } finally {
      button.disabled = false;
    }
  }

  /* Empty the form and its lists at sign-out: nothing typed by one user is left for the next. */
  function resetRequest() {
    for (const node of [ui.reqFieldList, ui.reqPurpose]) {
      clear(node);
    }
    ui.requestForm.reset();
    ui.reqDataset.length = 1;
    ui.reqDatasetInfo.textContent = "";
    clearProblem(ui.requestError, ui.requestForm);
    show(ui.requestResult, false);
  }

  ui.reqDataset.addEventListener("change", () => {
    clearProblem(ui.requestError, ui.requestForm);
    renderDatasetChoice();
  });
  ui.requestForm.addEventListener("submit", submitRequest);

  Object.assign(S, { loadPurposes, loadDatasets, resetRequest });
})();
