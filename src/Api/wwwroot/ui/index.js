import { $, api, describe, el, formatSeconds, header } from '/ui/app.js';

await header('/ui/');
const main = $('#main');

async function render() {
  const [jobs, models, datasets] = await Promise.all([api('/jobs?limit=50'), api('/models?limit=20'), api('/datasets?limit=20')]);
  const cancel = (job) => el('button', {
    type: 'button', className: 'cancel', onclick: async (event) => {
      event.target.disabled = true;
      try { await api(`/jobs/${job.id}/cancel`, { method: 'POST' }); } catch (e) { alert(describe(e)); }
      render();
    },
  }, 'Cancel');
  main.replaceChildren(
    el('h1', {}, 'Jobs & models'),
    el('p', {}, el('a', { href: '/ui/new-job' }, el('button', { type: 'button', tabIndex: -1 }, 'Start a job')), ' ', el('a', { href: '/ui/datasets' }, 'Upload a dataset')),
    el('h2', {}, 'Jobs'),
    jobs.items.length === 0 ? el('p', { className: 'muted' }, 'No jobs yet.') : el('div', { className: 'scroll' }, el('table', { id: 'jobs' },
      el('thead', {}, el('tr', {}, ...['Job', 'Status', 'Progress', 'Epoch', 'Images/s', 'ETA', ''].map((h) => el('th', {}, h)))),
      el('tbody', {}, ...jobs.items.map((job) => el('tr', { dataset: { job: job.id } },
        el('td', {}, el('a', { href: `/ui/jobs/${job.id}` }, job.id.slice(0, 8))),
        el('td', { className: 'status' }, job.status),
        el('td', {}, el('progress', { max: 1, value: job.progress, 'aria-label': 'progress' }), ` ${Math.round(job.progress * 100)} %`),
        el('td', {}, `${job.epoch} / ${job.totalEpochs}`),
        el('td', {}, job.imagesPerSecond?.toFixed(1) ?? '–'),
        el('td', {}, formatSeconds(job.etaSeconds)),
        el('td', {}, job.status === 'Queued' || job.status === 'Running' ? cancel(job) : ''),
      ))))),
    el('h2', {}, 'Models'),
    models.items.length === 0 ? el('p', { className: 'muted' }, 'No models yet.') : el('ul', { id: 'models' },
      ...models.items.map((m) => el('li', {}, el('a', { href: `/ui/models/${m.id}` }, m.name), ` — ${m.versions} version(s), default ${m.defaultVersion ?? '–'}`))),
    el('h2', {}, 'Datasets'),
    datasets.items.length === 0 ? el('p', { className: 'muted' }, 'No datasets yet.') : el('ul', {},
      ...datasets.items.map((d) => el('li', {}, `${d.name} — train ${d.splits.train}, val ${d.splits.val}, test ${d.splits.test}`))),
  );
}

await render();
setInterval(() => render().catch(() => {}), 3000);
