// `{name}`: a tool the app's agents can call (world `tool-only`: no HTTP handler).
import { provideTools } from '../sdk-js/spaceport.js';

export const toolProvider = provideTools({
  name: '{snake}',
  description: 'Count the words and characters of a text.',
  // The host checks every call's arguments against this schema before the tool runs.
  parameters: {
    type: 'object',
    properties: { text: { type: 'string', maxLength: 100000 } },
    required: ['text'],
    additionalProperties: false,
  },
  run: ({ text }) => ({
    words: text.split(/\s+/).filter(Boolean).length,
    characters: [...text].length,
  }),
});
