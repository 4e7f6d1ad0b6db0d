/* CityBrain data sharing (/sharing), grants: the live and ended grants of the user's
   organisation (either side), with their masks; the provider revokes, the grantee previews
   masked rows through a live grant. A part of sharing.js (window.CityBrainSharing), loaded
   after it. */
(() => {
  "use strict";

  const S = window.CityBrainSharing;
  if (!S) {
    return;
  }
  const { config, byId, ui, state, el, clear, show, msg, notice, NONE, when, api, problems } = S;
  const { datasetTitle, orgName, purposeLabel, maskKind, maskLabel, badge, clearProblem, showProblem } = S;

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
      const problem = problems.box(`revoke-error-${grant.id}`);
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
          await S.refreshLists();
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

  byId("preview-close").addEventListener("click", closePreview);

  Object.assign(S, { renderGrants, closePreview });
})();
