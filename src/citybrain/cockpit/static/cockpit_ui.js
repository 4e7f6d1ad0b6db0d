/* CityBrain cockpit: the helpers the plain-JS pages share (/sharing, /citizen), written once.
   Loaded first, with defer, before the page's own scripts; it only defines window.CityBrainUI
   and touches no element. No innerHTML: every message and every value goes in as text. */
(() => {
  "use strict";

  const own = (object, key) => Object.prototype.hasOwnProperty.call(object, key);

  /* ---------- text and DOM ---------- */

  /* msg(key, values) over a message table: "{name}" placeholders filled from values (unknown
     ones stay as they are), the key itself when the table lacks it; msg.has(key) tells. */
  function messages(table) {
    const M = table || {};
    const msg = (key, values) => {
      const template = own(M, key) ? M[key] : key;
      return String(template).replace(/\{(\w+)\}/g, (whole, name) =>
        values && own(values, name) ? String(values[name]) : whole,
      );
    };
    msg.has = (key) => own(M, key);
    return msg;
  }

  /* An element: attrs "text" (textContent), "class", "testid" (data-testid) or any attribute
     (true is an empty attribute; null, undefined and false are skipped); children are nodes or
     strings (as text), null/undefined/false skipped. */
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

  /* Remove every child of node. */
  function clear(node) {
    while (node.firstChild) {
      node.removeChild(node.firstChild);
    }
  }

  /* Show or hide node (its hidden attribute). */
  function show(node, visible) {
    node.hidden = !visible;
  }

  /* notice(text) for a status line: shows the text, hides the line when the text is empty. */
  function notifier(node) {
    return (text) => {
      node.textContent = text || "";
      show(node, Boolean(text));
    };
  }

  /* A badge span "<prefix>-badge <prefix>-badge--<tone>" (prefix: the page's "sh" or "ct"). */
  function badge(prefix, text, tone, testid) {
    return el("span", { class: `${prefix}-badge ${prefix}-badge--${tone}`, text, testid });
  }

  /* ---------- times ---------- */

  /* An API time (UTC; a value without offset is taken as UTC) as a Date, or null. */
  function parseTime(iso) {
    if (!iso) {
      return null;
    }
    const text = String(iso);
    const d = new Date(/(Z|[+-]\d\d:?\d\d)$/.test(text) ? text : `${text}Z`);
    return Number.isNaN(d.getTime()) ? null : d;
  }

  /* "YYYY-MM-DD HH:MM UTC" for a time as the browser parses it; none for no time, the value
     itself when it is no time. */
  function when(iso, none) {
    if (!iso) {
      return none;
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

  /* ---------- problems (RFC 9457 problem+json) next to their form ---------- */

  /* An API error: status (0 when the network failed) and the problem body (title, detail,
     field). */
  class Problem extends Error {
    constructor(status, body) {
      super((body && body.detail) || String(status));
      this.status = status;
      this.body = body || {};
    }
  }

  /* "name" for a problem's field "name.0" or "name[0]". */
  function fieldBase(field) {
    return String(field || "").split(/[.[]/)[0];
  }

  /* The problem boxes of a page. options: prefix (CSS class prefix), focus (move the focus to
     the invalid field), hint (base -> extra text under the problem, or null). Returns box(testid),
     clear(box, form), show(box, err, form) and local(field, detail). */
  function problems(msg, options) {
    const prefix = options.prefix;
    const hint = options.hint || (() => null);

    /* An empty, hidden alert box for a form built by the script. */
    function box(testid) {
      return el("div", { class: `${prefix}-problem`, role: "alert", testid, hidden: true });
    }

    /* Empty and hide the box; drop the form's aria-invalid marks. */
    function clearBox(target, form) {
      clear(target);
      show(target, false);
      if (form) {
        for (const node of form.querySelectorAll("[aria-invalid]")) {
          node.removeAttribute("aria-invalid");
        }
      }
    }

    /* Title, the field it names (marked aria-invalid in the form) and the detail of err. */
    function showBox(target, err, form) {
      clearBox(target, form);
      const body = (err && err.body) || {};
      const detail = body.detail || (err && err.message) || "";
      target.append(el("strong", { class: `${prefix}-problem__title`, text: body.title || msg("error.title") }));
      const field = body.field ? String(body.field) : "";
      const base = fieldBase(field);
      if (field) {
        const label = msg.has(`field.${base}`) ? msg(`field.${base}`) : base;
        target.append(
          el("span", {
            class: `${prefix}-problem__field`,
            testid: "problem-field",
            "data-field": field,
            text: msg("error.field", { label, field }),
          }),
        );
        const input = form && form.querySelector(`[data-field="${CSS.escape(base)}"]`);
        if (input) {
          input.setAttribute("aria-invalid", "true");
          if (options.focus) {
            input.focus();
          }
        }
      }
      if (detail) {
        target.append(el("span", { class: `${prefix}-problem__detail`, testid: "problem-detail", text: detail }));
      }
      const extra = base ? hint(base) : null;
      if (extra) {
        target.append(el("span", { class: `${prefix}-problem__hint`, testid: "problem-hint", text: extra }));
      }
      show(target, true);
    }

    /* A problem found here, before asking the API (same shape as the API's). */
    function local(field, detail) {
      return new Problem(422, { title: msg("error.title"), field, detail });
    }

    return { box, clear: clearBox, show: showBox, local };
  }

  /* ---------- the API ---------- */

  /* The API as one signed-in tab sees it. options: tokenKey (sessionStorage key of the bearer
     token), locale (Accept-Language), msg, onExpired (called on a 401 while holding a token).
     Returns {token, save(token), restore(), send(method, path, body, accept), api(method, path,
     body)}; failures throw a Problem. */
  function client(options) {
    const { tokenKey, msg } = options;
    const self = {
      token: null,

      /* Keep the token (null drops it) in memory and in this tab's sessionStorage. */
      save(token) {
        self.token = token;
        try {
          if (token) {
            sessionStorage.setItem(tokenKey, token);
          } else {
            sessionStorage.removeItem(tokenKey);
          }
        } catch (err) {
          /* storage refused (private mode): the token lives in memory for this page only */
        }
      },

      /* Take up the token this tab stored before; true when there was one. */
      restore() {
        let stored = null;
        try {
          stored = sessionStorage.getItem(tokenKey);
        } catch (err) {
          stored = null;
        }
        if (stored) {
          self.token = stored;
        }
        return Boolean(stored);
      },

      /* The fetch Response of a successful call (JSON body when body is given). */
      async send(method, path, body, accept) {
        const headers = { Accept: accept, "Accept-Language": options.locale || "zh-CN" };
        if (self.token) {
          headers.Authorization = `Bearer ${self.token}`;
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
        if (!response.ok) {
          let data = null;
          try {
            data = await response.json();
          } catch (err) {
            data = null;
          }
          if (response.status === 401 && self.token && path !== "/auth/logout") {
            options.onExpired();
          }
          throw new Problem(response.status, data || { detail: response.statusText });
        }
        return response;
      },

      /* The JSON answer of a call (null for 204 or a body that is no JSON). */
      async api(method, path, body) {
        const response = await self.send(method, path, body, "application/json");
        if (response.status === 204) {
          return null;
        }
        try {
          return await response.json();
        } catch (err) {
          return null;
        }
      },
    };
    return self;
  }

  /* ---------- signing in and out ---------- */

  /* The sign-in form, sign-out and session expiry of a page over client(). options: http (the
     client), ui (signinForm with name and password, signinError), problems (from problems()),
     notice, texts {expired, mustChange, signedOut} (already in the page's locale),
     signedOutView(), start(). Returns {signIn(event), signOut(), expire()}. */
  function session(options) {
    const { http, notice, texts } = options;
    const { signinForm: form, signinError: errorBox } = options.ui;
    const { show: showProblem, clear: clearProblem } = options.problems;
    const self = {
      expire() {
        http.save(null);
        options.signedOutView();
        notice(texts.expired);
      },

      async signIn(event) {
        event.preventDefault();
        clearProblem(errorBox, form);
        notice("");
        const name = form.elements.name.value.trim();
        const password = form.elements.password.value;
        const button = form.querySelector('button[type="submit"]');
        button.disabled = true;
        try {
          const out = await http.api("POST", "/auth/login", { name, password });
          if (out.must_change_password) {
            showProblem(errorBox, new Problem(403, { detail: texts.mustChange }));
            return;
          }
          http.save(out.access_token);
          form.elements.password.value = "";
          await options.start();
        } catch (err) {
          showProblem(errorBox, err, form);
        } finally {
          button.disabled = false;
        }
      },

      async signOut() {
        notice("");
        if (http.token) {
          try {
            await http.api("POST", "/auth/logout");
          } catch (err) {
            /* the token is dropped here whatever the server says */
          }
        }
        http.save(null);
        options.signedOutView();
        notice(texts.signedOut);
        form.elements.name.focus();
      },
    };
    return self;
  }

  window.CityBrainUI = Object.freeze({
    messages,
    el,
    clear,
    show,
    notifier,
    badge,
    parseTime,
    when,
    Problem,
    fieldBase,
    problems,
    client,
    session,
  });
})();
