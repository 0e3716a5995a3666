import { $, api, describe, el, header } from '/ui/app.js';

await header('/ui/new-job');
const main = $('#main');

// The form is generated from the recipe type's schema in the OpenAPI document: its fields, defaults and descriptions.
const document_ = await api('/swagger/v1/swagger.json');
const schemas = document_.components.schemas;
const recipe = schemas.TrainingRecipe;
const datasets = (await api('/datasets?limit=500')).items;
const preselected = new URLSearchParams(location.search).get('dataset');

function resolve(schema) {
  const reference = schema.$ref ?? schema.allOf?.[0]?.$ref;
  return reference ? schemas[reference.split('/').pop()] : schema;
}

const inputs = new Map();
const errorSlots = new Map();
function slot(field) {
  const element = el('div', { className: 'field-error', id: `error-${field}`, role: 'alert' });
  errorSlots.set(field, element);
  return element;
}

const fields = Object.entries(recipe.properties).map(([name, property]) => {
  const target = resolve(property);
  const id = `field-${name}`;
  let input;
  if (target.enum) {
    input = el('select', { id, name }, ...target.enum.map((value) => el('option', { value, selected: value === property.default }, value)));
  } else if (target.type === 'boolean' || property.type === 'boolean') {
    input = el('input', { id, name, type: 'checkbox', checked: property.default === true });
  } else if (['integer', 'number'].includes(target.type ?? property.type)) {
    input = el('input', { id, name, type: 'number', step: (target.type ?? property.type) === 'integer' ? '1' : 'any', value: property.default ?? '' });
  } else {
    input = el('input', { id, name, type: 'text', value: property.default ?? '' });
  }
  inputs.set(name, { input, kind: target.enum ? 'enum' : (target.type ?? property.type) });
  return el('div', {}, el('label', { htmlFor: id }, name), input, el('small', {}, property.description ?? ''), slot(`options.${name}`));
});

const dataset = el('select', { id: 'field-datasetId', required: true },
  el('option', { value: '' }, 'Choose a dataset'),
  ...datasets.map((d) => el('option', { value: d.id, selected: d.id === preselected }, `${d.name} (train ${d.splits.train})`)));
const modelName = el('input', { id: 'field-modelName', type: 'text', required: true, placeholder: 'facades' });
const promote = el('input', { id: 'field-promote', type: 'checkbox' });
const message = el('p', { id: 'form-message', role: 'status' });

const form = el('form', {
  onsubmit: async (event) => {
    event.preventDefault();
    for (const element of errorSlots.values()) element.textContent = '';
    message.textContent = '';
    const options = {};
    for (const [name, { input, kind }] of inputs) {
      if (kind === 'boolean') options[name] = input.checked;
      else if (kind === 'integer' || kind === 'number') { if (input.value !== '') options[name] = Number(input.value); }
      else if (input.value !== '') options[name] = input.value;
    }
    try {
      const job = await api('/jobs/train', { method: 'POST', json: { datasetId: dataset.value || null, modelName: modelName.value, options, promote: promote.checked } });
      location.href = `/ui/jobs/${job.id}`;
    } catch (error) {
      const errors = error?.problem?.errors;
      if (errors) for (const [field, messages] of Object.entries(errors)) (errorSlots.get(field) ?? message).textContent = messages.join(' ');
      else message.textContent = describe(error);
      message.className = 'error';
    }
  },
},
el('div', { className: 'card' },
  el('div', {}, el('label', { htmlFor: 'field-datasetId' }, 'Dataset'), ' ', dataset, slot('datasetId')),
  el('div', {}, el('label', { htmlFor: 'field-modelName' }, 'Model name'), ' ', modelName, slot('modelName')),
  el('div', {}, promote, ' ', el('label', { htmlFor: 'field-promote' }, 'Make its final version the model\'s default'))),
el('h2', {}, 'Recipe (defaults are the paper\'s)'),
el('div', { className: 'recipe-grid' }, ...fields),
el('p', {}, el('button', { type: 'submit', id: 'start' }, 'Start training')), message);
main.replaceChildren(el('h1', {}, 'New training job'), form);
