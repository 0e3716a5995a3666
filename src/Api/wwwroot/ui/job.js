import uPlot from '/ui/vendor/uplot/uPlot.esm.js';
import { $, api, describe, el, formatSeconds, header } from '/ui/app.js';

await header('/ui/');
const jobId = location.pathname.split('/').pop();
const main = $('#main');
const raw = { x: [], gGan: [], gL1: [], dReal: [], dFake: [] };
const snapshots = [];
let job = null;

const summary = el('div', { id: 'summary', className: 'card' });
const smoothing = el('input', { id: 'smoothing', type: 'range', min: 0, max: 0.99, step: 0.01, value: 0.6 });
const logScale = el('input', { id: 'log-scale', type: 'checkbox' });
const pointCount = el('span', { id: 'points', className: 'muted' }, '0 iterations');
const chartBox = el('div', { id: 'chart' });
const metrics = el('div', { id: 'metrics', className: 'scroll' });
const slider = el('input', { id: 'gallery-epoch', type: 'range', min: 0, max: 0, step: 1, value: 0, disabled: true });
const galleryLabel = el('span', { id: 'gallery-label' }, 'no snapshot yet');
const galleryImage = el('img', { id: 'gallery-image', alt: 'snapshot: input | output | target' });
const versions = el('p', { id: 'versions' });

main.replaceChildren(
  el('h1', {}, `Training job ${jobId.slice(0, 8)}`), summary,
  el('h2', {}, 'Losses'),
  el('div', { className: 'controls' },
    el('label', { htmlFor: 'smoothing' }, 'Smoothing'), smoothing,
    logScale, el('label', { htmlFor: 'log-scale' }, 'Log scale'), pointCount,
    el('span', { className: 'muted' }, 'dashed: ln 2, where D_real, D_fake and G_GAN sit when D cannot tell real from fake')),
  chartBox,
  el('h2', {}, 'Validation metrics per snapshot'), metrics,
  el('h2', {}, 'Snapshots (input | output | target)'),
  el('div', { className: 'controls' }, el('label', { htmlFor: 'gallery-epoch' }, 'Epoch'), slider, galleryLabel),
  el('div', { className: 'gallery' }, galleryImage), versions);

function smooth(values, weight) {
  let last = values[0];
  return values.map((v) => (last = last * weight + v * (1 - weight)));
}

let plot = null;
function makePlot() {
  plot?.destroy();
  const distr = logScale.checked ? 3 : 1;
  plot = new uPlot({
    width: Math.max(300, chartBox.clientWidth || main.clientWidth - 20), height: 320,
    scales: { x: { time: false }, bce: { distr }, l1: { distr } },
    axes: [{ label: 'iteration' }, { scale: 'bce', label: 'G_GAN, D_real, D_fake' }, { scale: 'l1', side: 1, label: 'G_L1', grid: { show: false } }],
    series: [
      { label: 'iteration' },
      { label: 'G_GAN', stroke: '#d62728', scale: 'bce' },
      { label: 'G_L1', stroke: '#1f77b4', scale: 'l1' },
      { label: 'D_real', stroke: '#2ca02c', scale: 'bce' },
      { label: 'D_fake', stroke: '#ff7f0e', scale: 'bce' },
      { label: 'ln 2', stroke: '#888', dash: [6, 4], scale: 'bce', points: { show: false } },
    ],
  }, data(), chartBox);
}

function data() {
  const w = Number(smoothing.value);
  return [raw.x, smooth(raw.gGan, w), smooth(raw.gL1, w), smooth(raw.dReal, w), smooth(raw.dFake, w), raw.x.map(() => Math.LN2)];
}

function redraw() {
  pointCount.textContent = `${raw.x.length} iterations`;
  chartBox.dataset.points = String(raw.x.length);
  plot.setData(data());
}

function addLosses(points) {
  for (const p of points) {
    if (raw.x.length && p.iteration <= raw.x[raw.x.length - 1]) continue;
    raw.x.push(p.iteration); raw.gGan.push(p.gGan); raw.gL1.push(p.gL1); raw.dReal.push(p.dReal); raw.dFake.push(p.dFake);
  }
  redraw();
}

function showJob(current) {
  job = current;
  const running = job.status === 'Queued' || job.status === 'Running';
  summary.replaceChildren(
    el('p', {}, 'Status: ', el('strong', { id: 'status' }, job.status), job.cancelRequested && running ? ' (cancelling)' : '',
      ` · epoch ${job.epoch} / ${job.totalEpochs} · iteration ${job.iteration} / ${job.totalIterations} · `,
      el('progress', { max: 1, value: job.progress, 'aria-label': 'progress' }),
      ` ${Math.round(job.progress * 100)} % · ${job.imagesPerSecond?.toFixed(1) ?? '–'} images/s · ETA ${formatSeconds(job.etaSeconds)} · attempts ${job.attempts}`),
    job.error ? el('p', { className: 'error', id: 'job-error' }, job.error) : '',
    el('p', {}, 'Model: ', el('a', { href: `/ui/models/${job.modelId}` }, job.modelId.slice(0, 8)), ' · created by ', job.createdBy ?? '–', ' ',
      running ? el('button', { type: 'button', id: 'cancel', onclick: cancel }, 'Cancel') : ''));
  if (!running) versions.replaceChildren(el('a', { href: `/ui/models/${job.modelId}` }, 'The versions this job made'));
}

async function cancel(event) {
  event.target.disabled = true;
  try { showJob(await api(`/jobs/${jobId}/cancel`, { method: 'POST' })); } catch (e) { alert(describe(e)); }
}

function addSnapshot(snapshot) {
  if (snapshots.some((s) => s.epoch === snapshot.epoch)) return;
  snapshots.push(snapshot);
  snapshots.sort((a, b) => a.epoch - b.epoch);
  const best = snapshots.filter((s) => s.val).reduce((a, b) => (!a || b.val.ssim > a.val.ssim ? b : a), null);
  metrics.replaceChildren(el('table', {},
    el('thead', {}, el('tr', {}, ...['Epoch', 'val L1', 'val PSNR', 'val SSIM', ''].map((h) => el('th', {}, h)))),
    el('tbody', {}, ...snapshots.map((s) => el('tr', { dataset: { epoch: s.epoch } },
      el('td', {}, s.epoch), el('td', {}, s.val?.l1.toFixed(4) ?? '–'), el('td', {}, s.val?.psnr.toFixed(2) ?? '–'), el('td', {}, s.val?.ssim.toFixed(4) ?? '–'),
      el('td', {}, s === best ? el('strong', { className: 'best' }, 'best SSIM') : ''))))));
  const withImages = snapshots.filter((s) => s.imageUrl);
  slider.max = Math.max(0, withImages.length - 1);
  slider.disabled = withImages.length === 0;
  slider.value = withImages.length - 1;
  showGallery();
}

function showGallery() {
  const withImages = snapshots.filter((s) => s.imageUrl);
  const shown = withImages[Number(slider.value)];
  if (!shown) return;
  galleryImage.src = shown.imageUrl;
  galleryLabel.textContent = `epoch ${shown.epoch}`;
}

smoothing.addEventListener('input', redraw);
logScale.addEventListener('change', makePlot);
slider.addEventListener('input', showGallery);
addEventListener('resize', () => plot?.setSize({ width: Math.max(300, chartBox.clientWidth), height: 320 }));

makePlot();
showJob(await api(`/jobs/${jobId}`));

// Live: Server-Sent Events; if the stream drops, poll the same data every 3 s.
const events = new EventSource(`/jobs/${jobId}/events`);
let polling = null;
events.addEventListener('job', (e) => showJob(JSON.parse(e.data)));
events.addEventListener('losses', (e) => addLosses(JSON.parse(e.data)));
events.addEventListener('snapshot', (e) => addSnapshot(JSON.parse(e.data)));
events.addEventListener('end', () => events.close());
events.onerror = () => {
  if (events.readyState !== EventSource.CLOSED || polling || !job || ['Succeeded', 'Failed', 'Cancelled'].includes(job.status)) return;
  polling = setInterval(async () => {
    const after = raw.x.length ? raw.x[raw.x.length - 1] : 0;
    const [current, series] = await Promise.all([api(`/jobs/${jobId}`), api(`/jobs/${jobId}/metrics?after=${after}`)]);
    showJob(current);
    addLosses(series.losses);
    series.snapshots.forEach(addSnapshot);
    if (!['Queued', 'Running'].includes(current.status)) clearInterval(polling);
  }, 3000);
};
