// Live fleet view: every two seconds the page reads the fleet API and
// updates the cells marked data-live="FIELD" in the rows marked
// data-serial; a machine that appears or goes reloads the page (its row
// and the charts are drawn on the server).
(function () {
  var root = document.querySelector('[data-live-src]');
  if (!root) return;
  var src = root.getAttribute('data-live-src');
  function text(m, f) {
    switch (f) {
      case 'online': return m.online ? 'online' : 'offline';
      case 'bag': return Math.round(m.bagFill * 100) + '% (' + m.bagCount + ')';
      case 'deposits': return (m.depositsToday === undefined ? '' : String(m.depositsToday));
      case 'flags': return (m.flags || []).join('; ');
      default: var v = m[f]; return v === undefined || v === null ? '' : String(v);
    }
  }
  function apply(m, row) {
    row.querySelectorAll('[data-live]').forEach(function (el) {
      var t = text(m, el.getAttribute('data-live'));
      if (el.textContent !== t) el.textContent = t;
    });
    row.classList.toggle('flagged', !!(m.fraudFlagged || m.bagsFlagged));
    var on = row.querySelector('[data-live="online"]');
    if (on) on.className = m.online ? 'on' : 'off';
  }
  function tick() {
    fetch(src, {cache: 'no-store'}).then(function (r) { return r.ok ? r.json() : null; }).then(function (data) {
      if (!data) return;
      var list = Array.isArray(data) ? data : [data];
      var rows = document.querySelectorAll('[data-serial]');
      if (Array.isArray(data) && rows.length !== list.length) { location.reload(); return; }
      list.forEach(function (m) {
        var row = document.querySelector('[data-serial="' + CSS.escape(m.serial) + '"]');
        if (row) apply(m, row);
      });
      var stamp = document.querySelector('[data-testid="updated"]');
      if (stamp) stamp.textContent = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    }).catch(function () {}).finally(function () { setTimeout(tick, 2000); });
  }
  setTimeout(tick, 2000);
})();
