// `{name}`: answers `/api/{name}` (world `http-component`).
import { HttpError, readJson, serve } from '../sdk-js/spaceport.js';

serve(async (request, ctx) => {
  const user = ctx.user?.userId ?? null;
  switch (request.method) {
    case 'GET':
      return { hello: user, path: new URL(request.url).pathname };
    case 'POST':
      // A body that is not JSON is answered with 400 invalid_json.
      return { echo: await readJson(request), user };
    default:
      throw new HttpError(405, 'method_not_allowed', 'use GET or POST');
  }
});
