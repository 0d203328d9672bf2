// An HTTP component (world http-component): answers every request with JSON.
// Build: node sdk-js/build.mjs sdk-js/examples/hello-http.js --world http-component -o target/js/hello_http.wasm
import { HttpError, readJson, serve } from '../spaceport.js';

serve(async (request, ctx) => {
  const { pathname } = new URL(request.url);
  if (request.method === 'POST') {
    const body = await readJson(request);
    if (typeof body.name !== 'string') throw new HttpError(422, 'validation_error', 'name: must be a string');
    return { hello: body.name };
  }
  // Route params arrive as headers the host sets: no `context` grant needed.
  return { hello: ctx.param('name') ?? 'world', path: pathname, request_id: ctx.requestId };
});
