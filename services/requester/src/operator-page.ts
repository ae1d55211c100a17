// The live operator page: one self-contained HTML document (inline style and script, no external
// asset, nothing but its own origin is fetched). It holds no data: it asks for the API key (or
// takes it from the URL fragment, which never reaches a server), then reads
// `GET /operator/events` (server-sent events, Authorization: Bearer) with fetch and draws each
// summary. Every value is written with textContent: nothing from the server becomes markup.
export const OPERATOR_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'">
<title>countersign operator</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #0f1419; color: #e6e6e6; }
  header { padding: 12px 20px; background: #1b2430; display: flex; gap: 16px; align-items: center; }
  h1 { font-size: 18px; margin: 0; }
  #conn { font-size: 12px; padding: 2px 8px; border-radius: 8px; background: #444; }
  #conn.live { background: #1f6f3f; }
  main { display: grid; grid-template-columns: repeat(auto-fill, minmax(280px, 1fr)); gap: 12px; padding: 16px 20px; }
  section { background: #18202a; border-radius: 8px; padding: 12px 14px; }
  h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .05em; color: #9fb3c8; margin: 0 0 8px; }
  .big { font-size: 28px; font-weight: 600; }
  table { width: 100%; border-collapse: collapse; }
  td { padding: 2px 0; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
  #verdict.clean { color: #5fd38d; } #verdict.findings { color: #ff6b6b; }
  #rejections li { font-family: ui-monospace, monospace; font-size: 12px; }
  canvas { width: 100%; height: 80px; }
  form { display: flex; gap: 8px; padding: 8px 20px; } form[hidden] { display: none; } input { flex: 1; }
</style>
</head>
<body>
<header><h1>countersign operator</h1><span id="conn">offline</span><span id="updated"></span></header>
<form id="login" hidden><input id="key" type="password" placeholder="API key" autocomplete="off"><button>Connect</button></form>
<main>
  <section><h2>Throughput (receipts/s)</h2><div class="big" id="rate">–</div><canvas id="spark" width="560" height="160"></canvas></section>
  <section><h2>Requests</h2><div>accepted <span class="big" id="accepted">0</span></div><table id="refused"></table></section>
  <section><h2>Receipts by outcome</h2><table id="outcomes"></table></section>
  <section><h2>Rejection reasons</h2><table id="reasons"></table><ul id="rejections"></ul></section>
  <section><h2>Latency (ms)</h2><table id="latency"></table></section>
  <section><h2>Conflicts</h2><table id="conflicts"></table></section>
  <section><h2>Stream heads</h2><table id="streams"></table></section>
  <section><h2>Checkpoints</h2><table id="checkpoints"></table></section>
  <section><h2>Last audit</h2><div class="big" id="verdict">–</div><div id="audit-at"></div><table id="findings"></table></section>
</main>
<script>
(() => {
  const $ = (id) => document.getElementById(id);
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('key');
  if (fromHash) { sessionStorage.setItem('countersign-key', fromHash); history.replaceState(null, '', location.pathname); }
  function rows(table, entries) {
    table.replaceChildren(...entries.map(([k, v]) => {
      const tr = document.createElement('tr');
      const a = document.createElement('td'); a.textContent = k;
      const b = document.createElement('td'); b.className = 'n'; b.textContent = String(v);
      tr.append(a, b); return tr;
    }));
  }
  const ms = (s) => (s === null || s === undefined ? '–' : s === Infinity ? '> max' : (s * 1000).toFixed(s < 0.01 ? 1 : 0));
  let previous = null; const rates = []; let lastAuditKey = ''; let auditAt = null;
  function draw() {
    const c = $('spark'), g = c.getContext('2d'); g.clearRect(0, 0, c.width, c.height);
    const max = Math.max(1, ...rates); g.strokeStyle = '#5fb3ff'; g.lineWidth = 2; g.beginPath();
    rates.forEach((r, i) => { const x = (i / 119) * c.width, y = c.height - (r / max) * (c.height - 4) - 2; i ? g.lineTo(x, y) : g.moveTo(x, y); });
    g.stroke();
  }
  function render(s) {
    if (previous) {
      const dt = Math.max(0.001, (s.at - previous.at) / 1000);
      const r = (s.receipts.total - previous.receipts.total) / dt;
      rates.push(r); if (rates.length > 120) rates.shift();
      $('rate').textContent = r.toFixed(1); draw();
      for (const [reason, n] of Object.entries(s.receipts.rejected)) {
        const d = n - (previous.receipts.rejected[reason] || 0);
        if (d > 0) {
          const li = document.createElement('li');
          li.textContent = new Date(s.at).toISOString().slice(11, 23) + ' REJECTED ' + reason + ' +' + d;
          $('rejections').prepend(li);
          while ($('rejections').children.length > 20) $('rejections').lastChild.remove();
        }
      }
    }
    previous = s;
    $('updated').textContent = 'updated ' + new Date(s.at).toISOString().slice(11, 19) + 'Z';
    $('accepted').textContent = String(s.requests.accepted);
    rows($('refused'), Object.entries(s.requests.refused).map(([k, v]) => ['refused ' + k, v]));
    rows($('outcomes'), Object.entries(s.receipts.byOutcome));
    rows($('reasons'), Object.entries(s.receipts.rejected));
    const l = s.latency;
    rows($('latency'), [['gateway p50 / p90 / p99', ms(l.process.p50) + ' / ' + ms(l.process.p90) + ' / ' + ms(l.process.p99)],
      ['sign p50 / p99', ms(l.sign.p50) + ' / ' + ms(l.sign.p99)], ['queue age p99', ms(l.queueAge.p99)]]);
    rows($('conflicts'), [['nonce', s.conflicts.nonce], ['chain', s.conflicts.chain]]);
    const st = s.status || { streams: [], auditSavedAt: null };
    const t = (at) => (typeof at === 'number' ? new Date(at).toISOString().slice(11, 19) + 'Z' : '–');
    rows($('streams'), st.streams.map((x) => [x.stream,
      'seq ' + x.seq + ' · ' + x.head + '… · ' + t(x.at)]));
    rows($('checkpoints'), st.streams.map((x) => [x.stream,
      (x.checkpoint ? '#' + x.checkpoint.index + ' seq ' + x.checkpoint.seq + ' · ' + t(x.checkpoint.at) : 'none') +
      ' · behind ' + x.behind + (x.audited === null ? '' : ' · audited to ' + x.audited)]));
    const runs = s.audit.runs, findings = Object.values(s.audit.findings).reduce((a, b) => a + b, 0);
    const v = $('verdict');
    if (!runs.clean && !runs.findings && findings === 0) { v.textContent = s.audit.receipts ? 'clean so far' : st.auditSavedAt ? 'audit state saved' : 'no audit yet'; v.className = s.audit.receipts ? 'clean' : ''; }
    else { v.textContent = findings ? 'FINDINGS (' + findings + ')' : 'clean'; v.className = findings ? 'findings' : 'clean'; }
    rows($('findings'), Object.entries(s.audit.findings));
    // The verdict's time: when the audit's counts last moved here, or its saved state's time.
    const auditKey = JSON.stringify([s.audit.receipts, runs, s.audit.findings]);
    if (auditKey !== lastAuditKey) { lastAuditKey = auditKey; auditAt = s.at; }
    const savedAt = st.auditSavedAt;
    const when = s.audit.receipts || findings ? auditAt : savedAt;
    $('audit-at').textContent = when ? 'as of ' + t(when) : '';
  }
  async function connect(key) {
    const res = await fetch('/operator/events', { headers: { authorization: 'Bearer ' + key } });
    if (res.status === 401) { sessionStorage.removeItem('countersign-key'); $('login').hidden = false; $('conn').textContent = 'bad API key'; return; }
    $('conn').textContent = 'live'; $('conn').className = 'live';
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value; let i;
      while ((i = buf.indexOf('\\n\\n')) >= 0) {
        const frame = buf.slice(0, i); buf = buf.slice(i + 2);
        const data = frame.split('\\n').filter((x) => x.startsWith('data:')).map((x) => x.slice(5).trimStart()).join('\\n');
        if (data) render(JSON.parse(data));
      }
    }
    $('conn').textContent = 'disconnected'; $('conn').className = '';
    setTimeout(() => connect(key), 1000);
  }
  $('login').addEventListener('submit', (e) => { e.preventDefault(); const k = $('key').value; sessionStorage.setItem('countersign-key', k); $('login').hidden = true; connect(k); });
  const key = sessionStorage.getItem('countersign-key');
  if (key) connect(key).catch(() => { $('conn').textContent = 'offline'; }); else $('login').hidden = false;
})();
</script>
</body>
</html>
`;
