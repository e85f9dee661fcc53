// The dashboard: preview the start of the file (a type per column), then create an import, follow it over SSE, upload the file with XHR (for upload
// progress), and show what the server reports. Plain browser JavaScript, no build step.
const IMPORTS = '/imports';
const $ = (id) => document.getElementById(id);
const mb = (bytes) => `${(bytes / 1048576).toFixed(1)} MB`;
const num = (n) => Number(n).toLocaleString('en');
const MAX_FAILURE_ROWS = 100;
const PREVIEW_BYTES = 1024 * 1024;
const PREVIEW_ROWS_SHOWN = 10;

let current = null;

function showSnapshot(s, file) {
  $('state').textContent = s.state;
  $('written').textContent = num(s.rowsWritten ?? 0);
  $('failed').textContent = num(s.rowsFailed ?? 0);
  $('skipped').textContent = num(s.rowsSkipped ?? 0);
  $('rate').textContent = num(s.rowsPerSecond ?? 0);
  if (s.heapUsedBytes) $('heap').textContent = mb(s.heapUsedBytes);
  if (s.rssBytes) $('rss').textContent = mb(s.rssBytes);
  // bytesRead counts decompressed bytes, so the read bar and ETA only make sense for plain CSV.
  if (file && !file.name.endsWith('.gz') && s.bytesRead) {
    const share = Math.min(1, s.bytesRead / file.size);
    $('read').value = share;
    $('readText').textContent = `${mb(s.bytesRead)} of ${mb(file.size)}`;
    const perMs = s.bytesRead / Math.max(1, s.elapsedMs);
    $('eta').textContent = s.state === 'running' && perMs > 0 ? `${Math.ceil((file.size - s.bytesRead) / perMs / 1000)} s` : '—';
  }
  if (s.heapUsedBytes) chart.add(s.heapUsedBytes, s.rssBytes);
}

const chart = {
  points: [],
  add(heap, rss) {
    this.points.push([heap / 1048576, rss / 1048576]);
    if (this.points.length > 300) this.points.shift();
    this.draw();
  },
  draw() {
    const canvas = $('chart');
    const ctx = canvas.getContext('2d');
    const { width, height } = canvas;
    ctx.clearRect(0, 0, width, height);
    const max = Math.max(64, ...this.points.map((p) => p[1])) * 1.1;
    ctx.fillStyle = '#5b6475';
    ctx.font = '11px system-ui';
    ctx.fillText(`${Math.round(max)} MB`, 4, 12);
    ctx.fillText('0', 4, height - 4);
    [['#2f6fde', 0], ['#e0803a', 1]].forEach(([color, k]) => {
      ctx.strokeStyle = color;
      ctx.lineWidth = 2;
      ctx.beginPath();
      this.points.forEach((p, i) => {
        const x = 40 + (i / Math.max(1, this.points.length - 1)) * (width - 50);
        const y = height - 6 - (p[k] / max) * (height - 20);
        if (i === 0) ctx.moveTo(x, y);
        else ctx.lineTo(x, y);
      });
      ctx.stroke();
    });
  },
};

function addFailure(f) {
  const body = $('failures').tBodies[0];
  if (body.rows.length >= MAX_FAILURE_ROWS) return;
  const row = body.insertRow();
  for (const value of [f.line, f.code, f.column ?? '', f.message]) row.insertCell().textContent = String(value);
}

function finish(report) {
  showSnapshot(report, current?.file);
  // The failures are in the table above; the report shows their count only.
  const { failures = [], ...rest } = report;
  $('report').textContent = JSON.stringify({ ...rest, failures: `${failures.length} listed above` }, null, 2);
  $('cancel').disabled = true;
  $('run').dataset.state = report.state;
}

async function start(file) {
  current?.events?.close();
  $('run').hidden = false;
  $('title').textContent = `Import of ${file.name} (${mb(file.size)})`;
  $('failures').tBodies[0].replaceChildren();
  $('report').textContent = '(when the import ends)';
  $('cancel').disabled = false;
  delete $('run').dataset.state;
  chart.points = [];

  setToken();

  // 1. Create the import first, so we know its id before a byte is uploaded.
  const created = await fetch(IMPORTS, { method: 'POST' });
  if (!created.ok) return failRequest(await created.json());
  const { id, links } = await created.json();
  current = { id, links, file };
  $('state').textContent = 'waiting for upload';

  // 2. Follow it live. EventSource reconnects by itself with Last-Event-ID.
  const events = new EventSource(links.events);
  current.events = events;
  events.addEventListener('progress', (e) => showSnapshot(JSON.parse(e.data), file));
  events.addEventListener('rowFailure', (e) => addFailure(JSON.parse(e.data)));
  events.addEventListener('done', (e) => {
    finish(JSON.parse(e.data));
    events.close();
  });

  // 3. Upload the file itself; XHR reports upload progress, fetch does not.
  const xhr = new XMLHttpRequest();
  current.xhr = xhr;
  xhr.open('PUT', links.upload);
  xhr.setRequestHeader('Content-Type', file.name.endsWith('.gz') ? 'application/gzip' : 'text/csv');
  xhr.upload.onprogress = (e) => {
    if (!e.lengthComputable) return;
    $('upload').value = e.loaded / e.total;
    $('uploadText').textContent = `${mb(e.loaded)} of ${mb(e.total)}`;
  };
  xhr.onload = () => {
    const body = JSON.parse(xhr.responseText || '{}');
    // Queue mode: the file is stored and queued; a worker imports it and the events bring the report.
    if (xhr.status === 202) {
      $('state').textContent = 'queued';
      return;
    }
    if (xhr.status >= 400 && !body.report) failRequest(body);
    else finish(body.report ?? body);
  };
  xhr.onerror = () => ($('state').textContent = 'upload failed: connection lost');
  xhr.send(file);
}

// The token travels as a same-site cookie, so EventSource (which cannot set headers) sends it
// too; the server refuses cross-site creates, uploads and cancels, so the cookie cannot be abused.
function setToken() {
  document.cookie = `anti_oom_token=${encodeURIComponent($('token').value)}; path=/; SameSite=Strict`;
}

function cell(row, tag, text) {
  const el = document.createElement(tag);
  el.textContent = text;
  row.append(el);
  return el;
}

// Before anything is written: send the first megabyte to the preview route and show what the
// import would make of it, a type per column included. The import starts on "Start import".
async function preview(file) {
  current?.events?.close();
  current = null;
  $('run').hidden = true;
  $('preview').hidden = false;
  $('previewTitle').textContent = `Preview of ${file.name} (${mb(file.size)})`;
  const table = $('previewTable');
  table.tHead.replaceChildren();
  table.tBodies[0].replaceChildren();
  $('previewNote').textContent = 'reading the start of the file…';
  $('start').onclick = () => {
    $('preview').hidden = true;
    start(file);
  };
  setToken();
  const compressed = file.name.endsWith('.gz');
  if (compressed) {
    // A cut gzip stream is not valid gzip: compressed files go straight to the import.
    $('previewNote').textContent = 'No preview for a compressed file.';
    return;
  }
  const reply = await fetch(`${IMPORTS}/preview`, { method: 'POST', headers: { 'Content-Type': 'text/csv' }, body: file.slice(0, PREVIEW_BYTES) });
  const p = await reply.json();
  if (!reply.ok) {
    $('previewNote').textContent = `Preview refused: ${p.error?.code ?? reply.status} ${p.error?.message ?? ''}`;
    return;
  }
  const notes = [`encoding ${p.encoding ?? '—'} (${p.encodingSource})`, `delimiter ${JSON.stringify(p.delimiter ?? '')}`, `${num(p.rows.length)} rows sampled${p.complete ? ' (the whole file)' : ''}`];
  if (p.failures.length) notes.push(`${num(p.failures.length)} of them would fail (first: line ${p.failures[0].line}, ${p.failures[0].code})`);
  if (p.error) notes.push(`the import would stop: ${p.error.code} ${p.error.message}`);
  $('previewNote').textContent = notes.join(' · ');
  const names = table.tHead.insertRow();
  const types = table.tHead.insertRow();
  types.className = 'types';
  for (const column of p.columns) {
    cell(names, 'th', column.name);
    const fit = column.candidates.find((c) => c.type === column.type);
    const th = cell(types, 'th', column.type);
    th.dataset.type = column.type;
    th.title = fit ? `${Math.round(fit.share * 100)}% of sampled values fit` : 'no narrower type fits every value';
  }
  for (const row of p.rows.slice(0, PREVIEW_ROWS_SHOWN)) {
    const tr = table.tBodies[0].insertRow();
    for (const column of p.columns) tr.insertCell().textContent = row.values[column.name] ?? '';
  }
}

function failRequest(body) {
  $('state').textContent = `refused: ${body.error?.code ?? 'error'}`;
  $('report').textContent = JSON.stringify(body, null, 2);
}

$('cancel').addEventListener('click', async () => {
  if (!current) return;
  $('cancel').disabled = true;
  await fetch(current.links.status, { method: 'DELETE' });
});

$('file').addEventListener('change', (e) => {
  const file = e.target.files[0];
  if (file) preview(file);
});
const drop = $('drop');
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const file = e.dataTransfer.files[0];
  if (file) preview(file);
});
