/**
 * Lambdabox's Node.js runtime: the loop a Node.js function runs in, inside its sandbox.
 *
 * Started as `node /var/runtime/bootstrap.js` (CommonJS, Node 18 to 24). It reads:
 *   AWS_LAMBDA_RUNTIME_API  host:port of the Runtime API (required)
 *   _HANDLER                "file.export" or "dir/file.export.nested" (required)
 *   LAMBDA_TASK_ROOT        the function's code (default /var/task)
 *   AWS_LAMBDA_FUNCTION_NAME, AWS_LAMBDA_FUNCTION_VERSION, AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
 *   AWS_LAMBDA_LOG_GROUP_NAME, AWS_LAMBDA_LOG_STREAM_NAME   for the context object
 *   AWS_LAMBDA_LOG_FORMAT   optional; "JSON" makes console methods write JSON records
 *   AWS_LAMBDA_LOG_LEVEL    optional; console methods below it print nothing
 *
 * INIT loads the handler (CommonJS or ES module as Node would treat the file); a failure
 * is posted to /runtime/init/error and the process exits. Then each invocation is fetched
 * from /next, run, and its result posted to /response or its error to /error.
 *
 * Completion follows Lambda's Node.js runtime:
 * 1. A returned promise settles the invocation as soon as it settles.
 * 2. callback(err, result) settles it; with context.callbackWaitsForEmptyEventLoop (the
 *    default) the result is posted only once the event loop has nothing left to do.
 * 3. A handler that neither returns a promise nor calls back is settled with null when the
 *    event loop empties; an async one whose promise never settles fails with
 *    Runtime.NodeJsExit then.
 * 4. Only the first settlement counts.
 * 5. An uncaught exception or unhandled rejection fails the invocation (or INIT) and ends
 *    the process (status 129 or 128).
 * A handler wrapped with awslambda.streamifyResponse streams its response instead; streaming.js
 * says how such an invocation ends.
 */

'use strict';

const fs = require('fs');
const http = require('http');
const Module = require('module');
const path = require('path');
const util = require('util');
const { pathToFileURL } = require('url');
const streaming = require('./streaming.js');

const API_PREFIX = '/2018-06-01/runtime';
/** Lambda's message when an async handler's promise was still pending as the loop emptied. */
const NODE_JS_EXIT_MESSAGE =
  'The Lambda runtime client detected an unexpected Node.js exit code. This is most commonly caused by a ' +
  'Promise that was never settled. For more information, see ' +
  'https://nodejs.org/docs/latest/api/process.html#exit-codes';
const ERROR_TYPE_HEADER = 'Lambda-Runtime-Function-Error-Type';

// ---------------------------------------------------------------------------------------
// Errors, shaped as Lambda's Node.js runtime posts and logs them.

const runtimeErrorClasses = new Map();

/** An Error named Runtime.<type>, as the Node.js runtime names its own failures. */
function runtimeError(type, message) {
  let ErrorClass = runtimeErrorClasses.get(type);
  if (!ErrorClass) {
    ErrorClass = class extends Error {};
    // Named on the prototype before any instance exists, so stacks read "Runtime.<type>: ...".
    ErrorClass.prototype.name = `Runtime.${type}`;
    runtimeErrorClasses.set(type, ErrorClass);
  }
  return new ErrorClass(message);
}

function looksLikeError(value) {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof value.name === 'string' &&
    typeof value.message === 'string' &&
    typeof value.stack === 'string'
  );
}

/** The error document posted to the Runtime API: {errorType, errorMessage, trace}. */
function errorDocument(error) {
  try {
    if (util.types.isNativeError(error) || looksLikeError(error)) {
      return {
        errorType: error.name,
        errorMessage: error.message,
        trace: typeof error.stack === 'string' ? error.stack.split('\n') : [],
      };
    }
    return { errorType: typeof error, errorMessage: String(error), trace: [] };
  } catch (_) {
    return {
      errorType: 'handled',
      errorMessage:
        'callback called with Error argument, but there was a problem while retrieving one or more of its ' +
        'message, name, and stack',
    };
  }
}

/** An error as the log shows it: a tab, then JSON with its type, message and stack lines. */
function formatForLog(error) {
  const expand = (_key, value) => {
    if (value instanceof Error) {
      const expanded = Object.assign({ errorType: value.name, errorMessage: value.message, code: value.code }, value);
      if (typeof value.stack === 'string') expanded.stack = value.stack.split('\n');
      return expanded;
    }
    return value;
  };
  try {
    return '\t' + JSON.stringify(error, expand);
  } catch (_) {
    return '\t' + JSON.stringify(errorDocument(error));
  }
}

function asError(value) {
  return value instanceof Error ? value : new Error(value);
}

// ---------------------------------------------------------------------------------------
// Logging, one line per call. Text: "<ISO time>\t<request id>\t<LEVEL>\t<message>". JSON (LogFormat
// JSON): {"timestamp", "level", "requestId", "message"}, where a lone argument is the message as it
// is (an object stays an object, an Error becomes {errorType, errorMessage, stackTrace}), and several
// are formatted as util.format does, with the first Error's errorType, errorMessage and stackTrace.

const LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'];

/** JSON.stringify's replacer for an Error: its type, message and stack lines, then its own properties. */
function errorAsJson(_key, value) {
  if (value instanceof Error) {
    const stack = typeof value.stack === 'string' ? value.stack.split('\n') : value.stack;
    const type = (value.constructor && value.constructor.name) || 'UnknownError';
    return Object.assign({ errorType: type, errorMessage: value.message, stackTrace: stack }, value);
  }
  return value;
}

/** One JSON log record, as Lambda's Node.js runtime writes it with LogFormat JSON. */
function jsonRecord(requestId, level, args) {
  const record = { timestamp: new Date().toISOString(), level, requestId };
  if (args.length === 1) {
    record.message = args[0];
    try {
      return JSON.stringify(record, errorAsJson);
    } catch (_) {
      // Circular, or a BigInt: the message as text instead.
      record.message = util.format(args[0]);
      return JSON.stringify(record);
    }
  }
  record.message = util.format(...args);
  const error = args.find((arg) => arg instanceof Error);
  if (error) {
    record.errorType = (error.constructor && error.constructor.name) || 'UnknownError';
    record.errorMessage = error.message;
    record.stackTrace = typeof error.stack === 'string' ? error.stack.split('\n') : [];
  }
  return JSON.stringify(record);
}

/** Replace console's methods with Lambda's; `state.logError(label, error)` logs what failed an invoke or INIT. */
function patchConsole(state) {
  const json = (process.env.AWS_LAMBDA_LOG_FORMAT || '').toUpperCase() === 'JSON';
  const threshold = Math.max(0, LEVELS.indexOf((process.env.AWS_LAMBDA_LOG_LEVEL || 'TRACE').toUpperCase()));
  const writer = (level) => (message, ...params) => {
    const text = json
      ? jsonRecord(state.requestId, level, [message, ...params])
      : `${new Date().toISOString()}\t${state.requestId}\t${level}\t${util.format(message, ...params)}`;
    process.stdout.write(text.replace(/\n/g, '\r') + '\n');
  };
  const quiet = () => {};
  const at = (level) => (LEVELS.indexOf(level) >= threshold ? writer(level) : quiet);
  console.trace = at('TRACE');
  console.debug = at('DEBUG');
  console.info = at('INFO');
  console.log = console.info;
  console.warn = at('WARN');
  console.error = at('ERROR');
  console.fatal = writer('FATAL');
  state.logError = json
    ? (_label, error) => console.error(error)
    : (label, error) => console.error(label, formatForLog(error));
}

// ---------------------------------------------------------------------------------------
// The Runtime API, over one keep-alive connection.

function runtimeApi(address) {
  const [hostname, port] = address.split(':');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

  function request(method, urlPath, body, headers) {
    return new Promise((resolve, reject) => {
      const options = { hostname, port: Number(port), path: API_PREFIX + urlPath, method, agent };
      options.headers = headers || {};
      if (body !== undefined) options.headers['Content-Length'] = Buffer.byteLength(body);
      const req = http.request(options, (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  const postDocument = (urlPath, document) =>
    request('POST', urlPath, JSON.stringify(document), {
      'Content-Type': 'application/json',
      [ERROR_TYPE_HEADER]: String(document.errorType),
    });

  return {
    /** Where invocation `id`'s streamed response is posted (streaming.js opens that request). */
    streamTarget: (id) => {
      const urlPath = `${API_PREFIX}/invocation/${encodeURIComponent(id)}/response`;
      return { hostname, port: Number(port), agent, path: urlPath };
    },
    next: () => request('GET', '/invocation/next'),
    postResponse: (id, body) =>
      request('POST', `/invocation/${encodeURIComponent(id)}/response`, body, { 'Content-Type': 'application/json' }),
    postError: (id, document) => postDocument(`/invocation/${encodeURIComponent(id)}/error`, document),
    postInitError: (document) => postDocument('/init/error', document),
  };
}

// ---------------------------------------------------------------------------------------
// Loading the handler.

function nearestPackageIsModule(directory) {
  for (let dir = directory; ; dir = path.dirname(dir)) {
    if (dir.endsWith(`${path.sep}node_modules`)) return false;
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest)) {
      try {
        return JSON.parse(fs.readFileSync(manifest, 'utf8')).type === 'module';
      } catch (error) {
        console.warn(`${manifest} cannot be read, it will be ignored for ES module detection purposes.`, error);
        return false;
      }
    }
    if (path.dirname(dir) === dir) return false;
  }
}

/** Whether `specifier` names a package (not a path or a URL such as node:fs). */
function isBareSpecifier(specifier) {
  return !/^[./]/.test(specifier) && !/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(specifier);
}

/**
 * The hooks' resolve: a package an ES module can't find beside it is looked for in the NODE_PATH
 * directories named node_modules, in their order, as Lambda's runtimes do from Node 18 on (Node
 * itself reads NODE_PATH for require() only). `parents` are URLs of files just above each one.
 */
const RESOLVE_FROM_NODE_PATH = `
let parents = [];
export function initialize(data) { parents = data.parents; }
export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    if (!error || error.code !== 'ERR_MODULE_NOT_FOUND' || !(${isBareSpecifier.toString()})(specifier)) throw error;
    for (const parentURL of parents) {
      try {
        return await nextResolve(specifier, { ...context, parentURL });
      } catch (_) {}
    }
    throw error;
  }
}
`;

/** Once, before the first ES module is imported: ES modules find packages in NODE_PATH too. */
function resolveFromNodePath() {
  if (resolveFromNodePath.done) return;
  resolveFromNodePath.done = true;
  const parents = (process.env.NODE_PATH || '')
    .split(':')
    .filter((dir) => path.isAbsolute(dir) && path.basename(dir) === 'node_modules')
    .map((dir) => pathToFileURL(path.join(path.dirname(dir), 'lambda-resolve.mjs')).href);
  if (parents.length === 0) return;
  if (typeof Module.registerHooks === 'function') {
    // Node 22.15 and later: hooks that run on this thread, at no start-up cost.
    Module.registerHooks({
      resolve(specifier, context, nextResolve) {
        try {
          return nextResolve(specifier, context);
        } catch (error) {
          if (!error || error.code !== 'ERR_MODULE_NOT_FOUND' || !isBareSpecifier(specifier)) throw error;
          for (const parentURL of parents) {
            try {
              return nextResolve(specifier, { ...context, parentURL });
            } catch (_) {}
          }
          throw error;
        }
      },
    });
  } else if (typeof Module.register === 'function') {
    // Node 18.19 and 20: hooks on a thread of their own, started only for functions that are ES modules.
    const source = 'data:text/javascript,' + encodeURIComponent(RESOLVE_FROM_NODE_PATH);
    Module.register(source, { data: { parents } });
  }
}

async function importModule(file) {
  resolveFromNodePath();
  return import(pathToFileURL(file).href);
}

/** The module's exports, found as Lambda finds them: by file, then by Node's resolution. */
async function loadModule(taskRoot, moduleRoot, moduleName) {
  const base = path.resolve(taskRoot, moduleRoot, moduleName);
  if (fs.existsSync(base) && fs.statSync(base).isFile()) return require(base);
  const js = `${base}.js`;
  if (fs.existsSync(js)) {
    return nearestPackageIsModule(path.dirname(js)) ? importModule(js) : require(js);
  }
  if (fs.existsSync(`${base}.mjs`)) return importModule(`${base}.mjs`);
  if (fs.existsSync(`${base}.cjs`)) return require(`${base}.cjs`);
  return require(require.resolve(moduleName, { paths: [taskRoot, path.resolve(taskRoot, moduleRoot)] }));
}

async function loadHandler(taskRoot, handlerName) {
  if (handlerName.includes('..')) {
    throw runtimeError(
      'MalformedHandlerName',
      `'${handlerName}' is not a valid handler name. ` +
        'Use absolute paths when specifying root directories in handler names.',
    );
  }
  const moduleAndPath = path.basename(handlerName);
  const moduleRoot = handlerName.substring(0, handlerName.length - moduleAndPath.length);
  const dot = moduleAndPath.indexOf('.');
  if (dot < 0) throw runtimeError('MalformedHandlerName', 'Bad handler');
  const moduleName = moduleAndPath.substring(0, dot);
  const exportPath = moduleAndPath.substring(dot + 1);

  let exported;
  try {
    exported = await loadModule(taskRoot, moduleRoot, moduleName);
  } catch (error) {
    if (error instanceof SyntaxError) throw runtimeError('UserCodeSyntaxError', String(error));
    if (error && (error.code === 'MODULE_NOT_FOUND' || error.code === 'ERR_MODULE_NOT_FOUND')) {
      throw runtimeError('ImportModuleError', String(error));
    }
    throw error;
  }
  const handler = exportPath.split('.').reduce((value, key) => value && value[key], exported);
  if (!handler) throw runtimeError('HandlerNotFound', `${handlerName} is undefined or not exported`);
  if (typeof handler !== 'function') throw runtimeError('HandlerNotFound', `${handlerName} is not a function`);
  return handler;
}

// ---------------------------------------------------------------------------------------
// Invocations.

function parseJsonHeader(text, name) {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`Cannot parse ${name} as json: ${error.toString()}`);
  }
}

function isAsyncFunction(fn) {
  return fn.constructor && fn.constructor.name === 'AsyncFunction';
}

function isThenable(value) {
  const kind = typeof value;
  return value !== null && (kind === 'object' || kind === 'function') && typeof value.then === 'function';
}

class Runtime {
  constructor(env) {
    this.env = env;
    this.api = runtimeApi(env.AWS_LAMBDA_RUNTIME_API);
    this.state = { requestId: undefined };
    this.handler = null;
    /** What to do when the event loop empties while an invocation is unsettled. */
    this.onEmptyLoop = null;
    /** Fails the current invocation (or INIT) on an uncaught exception; set per phase. */
    this.onFatal = (error, status) => this.failInit(error, status);
  }

  async start() {
    patchConsole(this.state);
    process.on('uncaughtException', (error) => {
      this.state.logError('Uncaught Exception', asError(error));
      this.onFatal(error, 129);
    });
    process.on('unhandledRejection', (reason) => {
      const error = runtimeError('UnhandledPromiseRejection', String(reason));
      error.reason = reason;
      this.state.logError('Unhandled Promise Rejection', error);
      this.onFatal(error, 128);
    });
    process.on('beforeExit', () => {
      const pending = this.onEmptyLoop;
      this.onEmptyLoop = null;
      if (pending) pending();
    });
    streaming.installGlobal(this.env, runtimeError);
    try {
      this.handler = await loadHandler(this.env.LAMBDA_TASK_ROOT || '/var/task', this.env._HANDLER || '');
    } catch (error) {
      this.state.logError('Uncaught Exception', asError(error));
      this.failInit(error, 1);
      return;
    }
    this.loop().catch((error) => {
      process.stderr.write(`lambdabox runtime: the Runtime API is gone (${error})\n`);
      process.exit(2);
    });
  }

  failInit(error, status) {
    const done = () => process.exit(status);
    this.api.postInitError(errorDocument(error)).then(done, done);
  }

  async loop() {
    for (;;) {
      const next = await this.api.next();
      if (next.status !== 200) throw new Error(`/next answered ${next.status}: ${next.body}`);
      await this.invoke(next.headers, next.body.toString('utf8'));
    }
  }

  /** Run one invocation; resolve once its result or error has been posted. */
  invoke(headers, body) {
    const requestId = headers['lambda-runtime-aws-request-id'];
    this.state.requestId = requestId;
    if (headers['lambda-runtime-trace-id']) process.env._X_AMZN_TRACE_ID = headers['lambda-runtime-trace-id'];
    else delete process.env._X_AMZN_TRACE_ID;
    if (streaming.isStreamingHandler(this.handler)) {
      return streaming.invoke(this, requestId, headers, body, errorDocument);
    }

    return new Promise((resolveInvocation) => {
      let settled = false;
      let posting = false;
      const post = (error, result) => {
        if (posting) return;
        posting = true;
        this.onEmptyLoop = null;
        let sent;
        if (error !== undefined && error !== null) {
          this.state.logError('Invoke Error', asError(error));
          sent = this.api.postError(requestId, errorDocument(error));
        } else {
          let text;
          try {
            text = JSON.stringify(result === undefined ? null : result);
          } catch (_) {
            const failure = new Error('Unable to stringify response body');
            this.state.logError('Invoke Error', failure);
            sent = this.api.postError(requestId, errorDocument(failure));
          }
          if (!sent) sent = this.api.postResponse(requestId, text);
        }
        sent.then((answer) => {
          if (answer.status !== 202) {
            process.stderr.write(`lambdabox runtime: the result was refused (${answer.status}): ${answer.body}\n`);
          }
          // Replied: a later uncaught error has no invocation to fail, and the runtime just exits
          // (posting it would wait behind the next /next on the one connection, until an invoke came).
          this.onFatal = (_error, status) => process.exit(status);
          resolveInvocation();
        }, (failure) => {
          process.stderr.write(`lambdabox runtime: the Runtime API is gone (${failure})\n`);
          process.exit(2);
        });
      };

      let waitForEmptyLoop = true;
      const settle = () => {
        if (settled) return false;
        settled = true;
        return true;
      };
      const done = (error, result) => {
        if (settle()) post(error, result);
      };
      const callback = (error, result) => {
        if (!settle()) return;
        if ((error !== undefined && error !== null) || !waitForEmptyLoop) {
          post(error, result);
        } else {
          this.onEmptyLoop = () => setImmediate(() => post(null, result));
        }
      };

      const context = {
        get callbackWaitsForEmptyEventLoop() {
          return waitForEmptyLoop;
        },
        set callbackWaitsForEmptyEventLoop(value) {
          waitForEmptyLoop = value;
        },
        succeed: (result) => done(null, result),
        fail: (error) => done(error === undefined || error === null ? 'handled' : error),
        done,
      };
      this.describe(context, headers, requestId);

      this.onFatal = (error, status) => {
        settled = true;
        this.onEmptyLoop = null;
        const exit = () => process.exit(status);
        this.api.postError(requestId, errorDocument(error)).then(exit, exit);
      };
      const isAsync = isAsyncFunction(this.handler);
      // Nothing settled by the time the loop empties: Lambda's defaults (completion rule 3).
      this.onEmptyLoop = () => {
        if (settled) return;
        settled = true;
        if (isAsync) post(runtimeError('NodeJsExit', NODE_JS_EXIT_MESSAGE));
        else post(null, null);
      };

      try {
        this.describeCaller(context, headers);
        const result = this.handler(JSON.parse(body), context, callback);
        if (isThenable(result)) {
          result.then(context.succeed, context.fail);
        }
      } catch (error) {
        callback(error);
      }
    });
  }

  /** The context's fields about the function and the invocation, set on `context`. */
  describe(context, headers, requestId) {
    Object.assign(context, {
      functionName: this.env.AWS_LAMBDA_FUNCTION_NAME,
      functionVersion: this.env.AWS_LAMBDA_FUNCTION_VERSION,
      invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
      memoryLimitInMB: this.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      awsRequestId: requestId,
      logGroupName: this.env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: this.env.AWS_LAMBDA_LOG_STREAM_NAME,
      tenantId: headers['lambda-runtime-aws-tenant-id'],
    });
    const deadline = Number(headers['lambda-runtime-deadline-ms']);
    context.getRemainingTimeInMillis = () => deadline - Date.now();
  }

  /** The context's clientContext and identity; throws if a header is not JSON. */
  describeCaller(context, headers) {
    context.clientContext = parseJsonHeader(headers['lambda-runtime-client-context'], 'ClientContext');
    context.identity = parseJsonHeader(headers['lambda-runtime-cognito-identity'], 'CognitoIdentity');
  }

}

new Runtime(process.env).start();
