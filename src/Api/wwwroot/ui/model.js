import { $, api, describe, el, header } from '/ui/app.js';

await header('/ui/');
const modelId = location.pathname.split('/').pop();
const main = $('#main');
const compareFile = el('input', { id: 'compare-image', type: 'file', accept: 'image/png,image/jpeg' });
const compareMode = el('select', { id: 'compare-mode' }, el('option', { value: 'resize' }, 'resize'), el('option', { value: 'pad' }, 'pad'));
const compared = el('div', { id: 'compared', className: 'cards' });
const message = el('p', { role: 'status' });

const metric = (m) => (m ? `L1 ${m.l1.toFixed(4)} · PSNR ${m.psnr.toFixed(2)} · SSIM ${m.ssim.toFixed(4)}` : '–');

async function render() {
  const [model, versions] = await Promise.all([api(`/models/${modelId}`), api(`/models/${modelId}/versions`)]);
  main.replaceChildren(
    el('h1', {}, `Model ${model.name}`),
    el('p', {}, `${model.versions} version(s) · default ${model.defaultVersion ?? '–'} · created by ${model.createdBy ?? '–'} · `,
      el('a', { href: `/ui/translate?model=${modelId}` }, 'Translate with it')),
    message,
    el('div', { className: 'scroll' }, el('table', { id: 'versions' },
      el('thead', {}, el('tr', {}, ...['', 'Version', 'Source', 'Epoch', 'Validation', 'Test', 'Lineage', 'Package', ''].map((h) => el('th', {}, h)))),
      el('tbody', {}, ...versions.map((v) => el('tr', { dataset: { version: v.version } },
        el('td', {}, el('input', { type: 'checkbox', className: 'compare', value: v.version, 'aria-label': `compare version ${v.version}` })),
        el('td', {}, v.isDefault ? el('strong', {}, `${v.version} (default)`) : String(v.version)),
        el('td', {}, v.source), el('td', {}, `${v.epoch}${v.isFinal ? ' (final)' : ''}`), el('td', {}, metric(v.metrics)), el('td', {}, metric(v.testMetrics)),
        el('td', {}, v.jobId ? el('a', { href: `/ui/jobs/${v.jobId}` }, `job ${v.jobId.slice(0, 8)}`) : `import ${v.importedFileSha256?.slice(0, 12) ?? ''}`,
          v.datasetSha256 ? ` · dataset ${v.datasetSha256.slice(0, 12)}` : '', ` · ${v.createdBy ?? '–'}`),
        el('td', {}, el('a', { href: v.packageUrl }, 'download'), el('small', { className: 'muted' }, ` sha256 ${v.packageSha256?.slice(0, 12) ?? '–'}`)),
        el('td', {}, v.isDefault ? '' : el('button', { type: 'button', className: 'promote', onclick: () => promote(v.version) }, 'Promote'))))))),
    el('h2', {}, 'Compare versions side by side'),
    el('p', {}, 'Tick two to four versions, choose an image (a val image of the dataset, say), and each version translates it.'),
    el('div', { className: 'controls' }, compareFile, compareMode, el('button', { type: 'button', id: 'compare', onclick: compare }, 'Compare')),
    compared);
}

async function promote(version) {
  try { await api(`/models/${modelId}/default-version`, { method: 'PUT', json: { version } }); await render(); } catch (e) { message.textContent = describe(e); message.className = 'error'; }
}

async function compare() {
  const chosen = [...document.querySelectorAll('input.compare:checked')].map((c) => Number(c.value));
  const image = compareFile.files[0];
  if (chosen.length < 2 || chosen.length > 4 || !image) { message.textContent = 'Tick two to four versions and choose an image.'; message.className = 'error'; return; }
  compared.replaceChildren(el('figure', { className: 'card' }, el('img', { src: URL.createObjectURL(image), alt: 'input', style: 'max-width:100%' }), el('figcaption', {}, 'Input')));
  for (const version of chosen) {
    const response = await api(`/models/${modelId}/translate?version=${version}&mode=${compareMode.value}`,
      { method: 'POST', body: image, headers: { 'Content-Type': image.type, Accept: 'image/png' } });
    compared.append(el('figure', { className: 'card' }, el('img', { src: URL.createObjectURL(await response.blob()), alt: `version ${version}`, style: 'max-width:100%' }),
      el('figcaption', {}, `Version ${version}`)));
  }
}

await render();
