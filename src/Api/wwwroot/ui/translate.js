import { $, api, describe, el, header } from '/ui/app.js';

await header('/ui/translate');
const main = $('#main');
const models = (await api('/models?limit=500')).items;
const preselected = new URLSearchParams(location.search).get('model');

const model = el('select', { id: 'model' }, ...models.map((m) => el('option', { value: m.id, selected: m.id === preselected }, m.name)));
const version = el('select', { id: 'version' });
const mode = el('select', { id: 'mode' }, el('option', { value: 'resize' }, 'resize (to the training size and back)'), el('option', { value: 'pad' }, 'pad (full resolution)'));
const file = el('input', { id: 'image', type: 'file', accept: 'image/png,image/jpeg' });
const drop = el('div', { id: 'drop', className: 'card', tabIndex: 0 }, 'Drop or paste an image here, or choose one: ', file);
const input = el('img', { id: 'input-image', alt: 'input' });
const output = el('img', { id: 'output-image', alt: 'output' });
const status = el('p', { id: 'translate-status', role: 'status' });
const download = el('a', { id: 'download', download: 'translated.png', hidden: true }, 'Download the output');
let chosen = null;

async function loadVersions() {
  version.replaceChildren();
  if (!model.value) return;
  const list = await api(`/models/${model.value}/versions`);
  for (const v of list) version.append(el('option', { value: v.version, selected: v.isDefault }, `${v.version}${v.isDefault ? ' (default)' : ''} · epoch ${v.epoch}`));
}

function choose(blob) {
  if (!blob || !/^image\/(png|jpeg)$/.test(blob.type)) { status.textContent = 'Choose a PNG or JPEG image.'; status.className = 'error'; return; }
  chosen = blob;
  input.src = URL.createObjectURL(blob);
  translate();
}

async function translate() {
  if (!chosen || !model.value) return;
  status.className = '';
  status.textContent = 'Translating…';
  const started = performance.now();
  try {
    const response = await api(`/models/${model.value}/translate?version=${version.value}&mode=${mode.value}`,
      { method: 'POST', body: chosen, headers: { 'Content-Type': chosen.type, Accept: 'image/png' } });
    const image = await response.blob();
    const milliseconds = Math.round(performance.now() - started);
    output.src = download.href = URL.createObjectURL(image);
    download.hidden = false;
    status.textContent = `${milliseconds} ms · ${response.headers.get('X-Inference-Precision') ?? ''}`;
    output.dataset.latency = String(milliseconds);
  } catch (error) {
    status.className = 'error';
    status.textContent = describe(error);
  }
}

model.addEventListener('change', async () => { await loadVersions(); translate(); });
version.addEventListener('change', translate);
mode.addEventListener('change', translate);
file.addEventListener('change', () => choose(file.files[0]));
drop.addEventListener('dragover', (e) => e.preventDefault());
drop.addEventListener('drop', (e) => { e.preventDefault(); choose(e.dataTransfer.files[0]); });
addEventListener('paste', (e) => choose([...e.clipboardData.files][0]));

main.replaceChildren(el('h1', {}, 'Translate'),
  models.length === 0 ? el('p', { className: 'muted' }, 'No models yet: train one, or import a PyTorch generator (POST /models/import).') : '',
  el('div', { className: 'controls' }, el('label', { htmlFor: 'model' }, 'Model'), model, el('label', { htmlFor: 'version' }, 'Version'), version,
    el('label', { htmlFor: 'mode' }, 'Mode'), mode),
  drop, status,
  el('div', { className: 'side-by-side' }, el('figure', {}, input, el('figcaption', {}, 'Input')), el('figure', {}, output, el('figcaption', {}, 'Output'))),
  download);
await loadVersions();
