/* CityBrain data sharing (/sharing), decisions: a card per pending request addressed to the
   user's organisation, with the fields to keep, their masks, the term, the acceptance of a
   legal basis and the reason; approve or reject. A part of sharing.js (window.CityBrainSharing),
   loaded after it. */
(() => {
  "use strict";

  const S = window.CityBrainSharing;
  if (!S) {
    return;
  }
  const { config, ui, state, el, clear, show, msg, notice, NONE, when, api, problems } = S;
  const { datasetTitle, orgName, purposeLabel, maskLabel, piiBadges, clearProblem, showProblem } = S;

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
    const problem = problems.box(`decide-error-${id}`);
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
        await S.refreshLists();
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

  Object.assign(S, { renderIncoming });
})();
