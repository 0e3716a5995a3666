import { $, api, describe, el, formatBytes, header, session } from '/ui/app.js';

await header('/ui/datasets');
const main = $('#main');
const file = el('input', { type: 'file', id: 'archive', accept: '.zip,application/zip', required: true });
const name = el('input', { type: 'text', id: 'dataset-name', placeholder: 'the file name' });
const progress = el('progress', { id: 'upload-progress', max: 1, value: 0, hidden: true, 'aria-label': 'upload progress' });
const message = el('p', { id: 'upload-message', role: 'status' });
const list = el('div', { id: 'datasets' });

const form = el('form', {
  className: 'card',
  onsubmit: async (event) => {
    event.preventDefault();
    if (!file.files.length) return;
    const body = new FormData();
    body.append('file', file.files[0]);
    if (name.value.trim()) body.append('name', name.value.trim());
    const { antiforgeryToken } = await session();
    progress.hidden = false;
    message.textContent = 'Uploading…';
    message.className = '';
    // XMLHttpRequest, for the upload's progress events (fetch has none for request bodies).
    const request = new XMLHttpRequest();
    request.open('POST', '/datasets');
    request.setRequestHeader('X-XSRF-TOKEN', antiforgeryToken);
    request.setRequestHeader('Accept', 'application/json');
    request.upload.onprogress = (e) => { if (e.lengthComputable) progress.value = e.loaded / e.total; };
    request.onload = () => {
      const answer = JSON.parse(request.responseText || '{}');
      if (request.status === 201) {
        message.textContent = `Uploaded ${answer.name}: train ${answer.splits.train}, val ${answer.splits.val}, test ${answer.splits.test}.`;
        form.reset();
        render();
      } else {
        message.className = 'error';
        message.textContent = describe({ status: request.status, problem: answer });
      }
      progress.hidden = true;
    };
    request.onerror = () => { message.className = 'error'; message.textContent = 'The upload failed (connection).'; progress.hidden = true; };
    request.send(body);
  },
},
el('label', { htmlFor: 'archive' }, 'Dataset archive (.zip)'), ' ', file,
el('p', { className: 'muted' }, 'train/ (and val/, test/) of aligned A|B images, or A/ and B/ folders with the same file names.'),
el('label', { htmlFor: 'dataset-name' }, 'Name'), ' ', name, ' ',
el('button', { type: 'submit' }, 'Upload'), ' ', progress, message);

async function render() {
  const datasets = await api('/datasets?limit=100');
  list.replaceChildren(datasets.items.length === 0 ? el('p', { className: 'muted' }, 'No datasets yet.') : el('div', { className: 'scroll' }, el('table', {},
    el('thead', {}, el('tr', {}, ...['Name', 'Pairs', 'Layout', 'Train', 'Val', 'Test', 'Size', 'Images', 'Uploaded by', ''].map((h) => el('th', {}, h)))),
    el('tbody', {}, ...datasets.items.map((d) => el('tr', { dataset: { dataset: d.id } },
      el('td', {}, d.name),
      el('td', { className: 'previews' }, ...Array.from({ length: d.previewCount }, (_, i) =>
        el('img', { src: `/datasets/${d.id}/previews/${i}`, alt: `training pair ${i + 1} of ${d.name}`, height: 48 }))),
      el('td', {}, d.layout), el('td', { className: 'train' }, d.splits.train), el('td', { className: 'val' }, d.splits.val),
      el('td', {}, d.splits.test), el('td', {}, formatBytes(d.sizeBytes)), el('td', {}, d.width ? `${d.width}×${d.height}` : 'mixed'),
      el('td', {}, d.createdBy ?? '–'),
      el('td', {}, el('a', { href: `/ui/new-job?dataset=${d.id}` }, 'Train on it'))))))));
}

main.replaceChildren(el('h1', {}, 'Datasets'), form, el('h2', {}, 'Uploaded'), list);
await render();
