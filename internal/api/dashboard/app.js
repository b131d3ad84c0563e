// wharf dashboard: renders the state document of /api/events (server-sent events), or polls
// /api/rawdata where streaming is not available. Every value from the configuration goes
// into the page through text nodes, never as markup: labels are written by whoever runs a
// container.
'use strict';

(function () {
  const byId = (id) => document.getElementById(id);

  // el builds an element; children are nodes or text (null and false are skipped).
  function el(tag, cls, ...children) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function badge(text, kind) {
    return el('span', 'badge ' + (kind || ''), text);
  }

  function statusBadge(status) {
    const kind = { enabled: 'ok', warning: 'warn', disabled: 'bad' }[status] || '';
    return badge(status, kind);
  }

  function replace(id, ...nodes) {
    byId(id).replaceChildren(...nodes);
  }

  // The message of an error without the source it starts with (shown on its own line), and
  // the suggestion it ends with, pulled out as the fix.
  function splitMessage(e) {
    let msg = e.message;
    if (e.source && msg.startsWith(e.source + ': ')) msg = msg.slice(e.source.length + 2);
    const m = msg.match(/ \(did you mean "([^"]+)"\?\)/);
    return { text: msg, fix: m ? m[1] : '' };
  }

  function where(e) {
    const parts = [];
    if (e.container) {
      parts.push(el('span', 'where-item', 'container ', el('strong', null, e.container)));
    }
    if (e.file) {
      let f = e.file;
      if (e.line) f += ':' + e.line + (e.column ? ':' + e.column : '');
      parts.push(el('span', 'where-item', 'file ', el('code', null, f)));
    }
    if (e.label) {
      parts.push(el('span', 'where-item', 'label ', el('code', null, e.label)));
    } else if (e.path) {
      parts.push(el('span', 'where-item', 'key ', el('code', null, e.path)));
    }
    if (e.provider) parts.push(el('span', 'where-item muted', '@' + e.provider));
    return el('div', 'where', ...parts);
  }

  function renderErrors(errors) {
    const section = byId('errors');
    section.hidden = errors.length === 0;
    const hasErrors = errors.some((e) => e.severity === 'error');
    section.querySelector('h2').textContent = hasErrors ? 'Configuration errors' : 'Configuration warnings';
    section.classList.toggle('only-warnings', !hasErrors);
    replace('error-list', ...errors.map((e) => {
      const m = splitMessage(e);
      return el('li', 'error-item ' + e.severity,
        el('div', 'error-head', badge(e.severity, e.severity === 'error' ? 'bad' : 'warn'),
          e.concerns ? el('span', 'muted', e.concerns) : null),
        where(e),
        el('p', 'error-msg', m.text),
        m.fix ? el('p', 'error-fix', 'Fix: write ', el('code', null, m.fix)) : null);
    }));
  }

  function tlsCell(r) {
    if (!r.tls) return el('span', 'muted', 'no TLS');
    const parts = [badge('TLS', 'tls')];
    if (r.tls.certResolver) parts.push(' ', el('span', 'muted', r.tls.certResolver));
    if (r.tls.options) parts.push(' ', el('span', 'muted', 'options ' + r.tls.options));
    return el('span', null, ...parts);
  }

  // cell wraps its content in one element, so on a phone (where the cell is a two-column
  // grid: label, content) everything stays in the content column.
  function cell(label, ...children) {
    const td = el('td', null, el('div', 'cell', ...children));
    td.dataset.label = label;
    return td;
  }

  function routerRow(r) {
    const mws = (r.middlewares || []).map((m) => el('span', 'chip', m));
    const problems = (r.errors || []).concat(r.warnings || []);
    const tr = el('tr', 'router ' + r.status,
      cell('Router', el('div', 'name', r.name), statusBadge(r.status)),
      cell('Rule', r.rule ? el('code', 'rule', r.rule) : el('span', 'muted', '—')),
      cell('TLS', tlsCell(r)),
      cell('Middlewares', mws.length ? el('span', 'chips', ...mws) : el('span', 'muted', 'none')),
      cell('Service', r.service ? el('span', null, '→ ', r.service) : el('span', 'muted', '—')));
    const rows = [tr];
    if (problems.length) {
      const td = el('td', 'router-problems', ...problems.map((p) => el('div', null, p)));
      td.colSpan = 5;
      rows.push(el('tr', 'problem-row ' + r.status, td));
    }
    return rows;
  }

  function routerTable(routers) {
    const head = el('tr', null, ...['Router', 'Rule', 'TLS', 'Middlewares', 'Service'].map((h) => el('th', null, h)));
    const body = el('tbody', null);
    for (const r of routers) body.append(...routerRow(r));
    return el('table', 'routers', el('thead', null, head), body);
  }

  function renderRouters(s) {
    const groups = new Map();
    for (const ep of s.entryPoints) groups.set(ep.name, []);
    const unserved = [];
    for (const r of s.routers) {
      if (!r.entryPoints || r.entryPoints.length === 0) { unserved.push(r); continue; }
      for (const ep of r.entryPoints) {
        if (!groups.has(ep)) groups.set(ep, []);
        groups.get(ep).push(r);
      }
    }
    const out = [];
    for (const [name, routers] of groups) {
      const ep = s.entryPoints.find((e) => e.name === name);
      out.push(el('h3', 'group', el('span', null, 'Entrypoint ', el('strong', null, name)),
        ep ? el('span', 'muted', ' ' + ep.address + (ep.tls ? ' (TLS)' : '')) : null,
        el('span', 'count', String(routers.length))));
      out.push(routers.length ? routerTable(routers) : el('p', 'muted', 'No router on this entrypoint.'));
    }
    if (unserved.length) {
      out.push(el('h3', 'group bad-text', el('span', null, 'Not served'), el('span', 'count', String(unserved.length))));
      out.push(routerTable(unserved));
    }
    if (out.length === 0) out.push(el('p', 'muted', 'No routers.'));
    replace('router-groups', ...out);
  }

  function renderServices(services) {
    if (!services.length) { replace('service-list', el('p', 'muted', 'No services.')); return; }
    replace('service-list', ...services.map((svc) => el('article', 'card ' + svc.status,
      el('div', 'card-head', el('span', 'name', svc.name), statusBadge(svc.status)),
      el('ul', 'servers', ...(svc.servers.length ? svc.servers.map((x) => el('li', 'server ' + x.status,
        el('span', 'dot', ''), el('code', null, x.url),
        el('span', x.status === 'down' ? 'bad-text' : 'muted', ' ' + x.status + (x.reason ? ': ' + x.reason : '')))) :
        [el('li', 'muted', 'no servers')])),
      (svc.errors || []).length ? el('div', 'card-errors', ...svc.errors.map((e) => el('div', null, e))) : null,
      el('div', 'muted small', 'used by ', svc.usedBy.length ? svc.usedBy.join(', ') : 'no router'))));
  }

  function expiryClass(days) {
    if (days === undefined || days === null) return 'bad';
    if (days < 7) return 'bad';
    if (days < 21) return 'warn';
    return 'ok';
  }

  function renderCertificates(certs) {
    if (!certs.length) { replace('cert-list', el('p', 'muted', 'No certificates.')); return; }
    replace('cert-list', ...certs.map((c) => {
      const days = c.daysLeft;
      const left = days === undefined ? 'not obtained yet' : days < 0 ? 'expired ' + (-days) + ' days ago' : days + ' days left';
      return el('article', 'card cert',
        el('div', 'card-head', el('span', 'name', c.names.length ? c.names.join(', ') : '(no name)'),
          badge(left, expiryClass(days))),
        el('div', 'small',
          c.notAfter ? 'expires ' + new Date(c.notAfter).toISOString().slice(0, 10) : null,
          c.issuer ? ' · issued by ' + c.issuer : null),
        el('div', 'small muted',
          c.managed ? 'ACME' + (c.resolver ? ' (' + c.resolver + ')' : '') : c.default ? 'default certificate' : 'static',
          c.source ? ' · ' + c.source : null),
        c.lastError ? el('div', 'card-errors', c.lastError) : null);
    }));
  }

  function renderMiddlewares(mws) {
    if (!mws.length) { replace('middleware-list', el('p', 'muted', 'No middlewares.')); return; }
    const body = el('tbody', null, ...mws.map((m) => el('tr', null,
      cell('Middleware', el('div', 'name', m.name), statusBadge(m.status)),
      cell('Type', m.type || '—'),
      cell('Used by', m.usedBy.length ? m.usedBy.join(', ') : 'no router'),
      cell('Problems', ...(m.errors || []).map((e) => el('div', 'bad-text', e))))));
    const head = el('tr', null, ...['Middleware', 'Type', 'Used by', 'Problems'].map((h) => el('th', null, h)));
    replace('middleware-list', el('table', 'routers', el('thead', null, head), body));
  }

  function renderEntryPoints(eps) {
    replace('entrypoint-list', ...eps.map((ep) => el('article', 'card',
      el('div', 'card-head', el('span', 'name', ep.name), ep.tls ? badge('TLS', 'tls') : null),
      el('code', null, ep.address))));
  }

  function renderSummary(s) {
    const o = s.overview;
    const item = (href, n, label, kind) => {
      const a = el('a', 'sum ' + (kind || ''), el('strong', null, String(n)), ' ' + label);
      a.href = href;
      return a;
    };
    const certSoon = s.certificates.filter((c) => c.daysLeft === undefined || c.daysLeft < 21).length;
    replace('summary',
      item('#errors', o.errors, o.errors === 1 ? 'error' : 'errors', o.errors ? 'bad' : 'ok'),
      item('#errors', o.warnings, o.warnings === 1 ? 'warning' : 'warnings', o.warnings ? 'warn' : ''),
      item('#routers', o.routers.total, 'routers', o.routers.disabled ? 'warn' : ''),
      item('#services', o.services.total, 'services', o.services.disabled ? 'warn' : ''),
      item('#certificates', s.certificates.length, 'certificates', certSoon ? 'warn' : ''),
      item('#middlewares', o.middlewares.total, 'middlewares', o.middlewares.disabled ? 'warn' : ''));
  }

  function render(s) {
    byId('version').textContent = s.version && s.version.version ? s.version.version : '';
    renderSummary(s);
    renderErrors(s.errors);
    renderRouters(s);
    renderServices(s.services);
    renderCertificates(s.certificates);
    renderMiddlewares(s.middlewares);
    renderEntryPoints(s.entryPoints);
    byId('updated').textContent = new Date().toLocaleTimeString();
    document.body.dataset.ready = 'true';
  }

  function live(ok, text) {
    const l = byId('live');
    l.textContent = text || (ok ? 'live' : 'reconnecting…');
    l.classList.toggle('off', !ok);
  }

  async function poll() {
    try {
      const res = await fetch('../api/rawdata', { cache: 'no-store', credentials: 'same-origin' });
      if (!res.ok) throw new Error(res.status + ' ' + res.statusText);
      render(await res.json());
      live(true, 'polling');
    } catch (err) {
      live(false, 'cannot reach wharf: ' + err.message);
    }
  }

  function start() {
    if (!window.EventSource) {
      poll();
      setInterval(poll, 2000);
      return;
    }
    const es = new EventSource('../api/events');
    es.addEventListener('state', (ev) => {
      live(true);
      render(JSON.parse(ev.data));
    });
    es.onopen = () => live(true);
    // The browser reconnects by itself; say so meanwhile.
    es.onerror = () => live(false);
  }

  start();
})();
