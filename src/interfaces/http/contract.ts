import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import swagger, { type SwaggerTransformObject } from '@fastify/swagger';
import type { FastifyInstance, FastifySchema, HTTPMethods } from 'fastify';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { findPackageRoot } from '../../lib/packageRoot.js';
import { serializerCompiler, validatorCompiler } from './schemaCompilers.js';

/** One registered route, as the contract test walks them. */
export interface RouteEntry {
  method: HTTPMethods;
  url: string;
  schema: FastifySchema | undefined;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route registered after the contract, HEAD routes included (contract.ts). */
    readonly routeTable: readonly RouteEntry[];
  }
}

/** The package's version, which is the API's. */
function packageVersion(): string {
  const root = findPackageRoot(import.meta.url, 'legway');
  if (root === undefined) return '0.0.0';
  return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
}

const DESCRIPTION = [
  'REST API of legway, the WebRTC and SIP media-leg gateway: conversations, members, events,',
  'legs, audio in calls, recordings, outbound SIP calls and failed webhook deliveries.',
  'Every /v1 request carries `Authorization: Bearer <JWT>` (HS256 with LEGWAY_SECRET; roles',
  '`application`, `operator`, `user`). Errors are `application/problem+json` bodies with a stable `code`.',
  'The socket.io protocol and the event types are described in docs/socket-protocol.md.',
].join(' ');

type OpenApiDocument = ReturnType<SwaggerTransformObject>;

/**
 * The document without component schemas nothing refers to: the zod provider makes an input and
 * an output variant of every named schema, and responses use only the output ones.
 */
function withoutUnusedSchemas(document: OpenApiDocument): OpenApiDocument {
  const { components, ...rest } = document as { components?: { schemas?: Record<string, unknown> } };
  const schemas = components?.schemas;
  if (!schemas) return document;
  const kept = new Set<string>();
  const refs = (value: unknown): string[] => [...JSON.stringify(value).matchAll(/"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1] ?? '');
  let found = refs(rest);
  // A kept schema may refer to others in turn.
  while (found.length > 0) {
    const next: string[] = [];
    for (const name of found) {
      if (kept.has(name) || !(name in schemas)) continue;
      kept.add(name);
      next.push(...refs(schemas[name]));
    }
    found = next;
  }
  const used = Object.fromEntries(Object.entries(schemas).filter(([name]) => kept.has(name)));
  return { ...document, components: { ...components, schemas: used } } as OpenApiDocument;
}

/**
 * Sets the zod compilers and the OpenAPI 3.1 generator on `app`, before any route is registered,
 * so that each route's zod schemas validate its requests and describe it in GET /openapi.json.
 */
export async function registerContract(app: FastifyInstance): Promise<void> {
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  const routes: RouteEntry[] = [];
  app.decorate('routeTable', routes);
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) routes.push({ method, url: route.url, schema: route.schema });
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'legway REST API', version: packageVersion(), description: DESCRIPTION },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'a token from `legway token` or your backend' },
        },
      },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
    transformObject: (document) => withoutUnusedSchemas(jsonSchemaTransformObject(document)),
  });

  // Public, like any API description; generated once, on first request, from the routes' schemas.
  let document: string | undefined;
  app.get('/openapi.json', { schema: { hide: true } }, async (_req, reply) => {
    document ??= JSON.stringify(app.swagger());
    return reply.type('application/json').send(document);
  });
}
