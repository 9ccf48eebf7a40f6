/**
 * Response streaming for Lambdabox's Node.js runtime: the global `awslambda` object (as Lambda's
 * Node.js runtimes provide it) and the response stream a streamified handler writes to.
 *
 * A handler wrapped with `awslambda.streamifyResponse(handler, options)` is called as
 * `handler(event, responseStream, context)`. Its response goes to the Runtime API as one POST to
 * /invocation/{id}/response with `Lambda-Runtime-Function-Response-Mode: streaming` and
 * `Transfer-Encoding: chunked`; each write is sent on as it comes. How the invocation ends:
 * 1. The handler ends the stream (end(), or pipeline() does it): the request ends, a success.
 * 2. The handler throws, its promise rejects, the stream is destroyed with an error, or the handler
 *    is not async: the error is sent in the trailers `Lambda-Runtime-Function-Error-Type` and
 *    `Lambda-Runtime-Function-Error-Body` (base64 of {errorType, errorMessage, trace}), declared up
 *    front in a `Trailer` header. Whatever was written before stays written.
 * 3. Only the first ending counts: writing after end(), end() twice or a late rejection change
 *    nothing that was sent (a write after end() fails that write's callback, as Node's streams do).
 * 4. The runtime moves on to the next event once the Runtime API has answered the POST (or its
 *    connection broke) and the handler's promise has settled. An answer before the stream ended (the
 *    response was refused, say over its size limit) destroys the stream: later writes fail. A handler
 *    that never ends its stream runs into the function's timeout, as on Lambda.
 *
 * `awslambda.HttpResponseStream.from(stream, metadata)` makes the body start with the HTTP
 * integration prelude a RESPONSE_STREAM function URL reads: the metadata as JSON, then 8 NUL bytes,
 * under the content type application/vnd.awslambda.http-integration-response. The prelude is sent
 * before the first byte written, or at end() when nothing was.
 */

'use strict';

const http = require('http');
const { Writable } = require('stream');

/** The mark streamifyResponse puts on a handler, under the names Lambda's runtimes use. */
const HANDLER_STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HANDLER_HIGHWATERMARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');
const STREAM_RESPONSE = 'response';

const ERROR_TYPE_TRAILER = 'Lambda-Runtime-Function-Error-Type';
const ERROR_BODY_TRAILER = 'Lambda-Runtime-Function-Error-Body';
/** A stream's content type until the handler sets one (Lambda's default). */
const DEFAULT_CONTENT_TYPE = 'application/octet-stream';
const HTTP_INTEGRATION_CONTENT_TYPE = 'application/vnd.awslambda.http-integration-response';
/** NUL bytes between the HTTP integration prelude and the body (8, as Lambda reads it). */
const PRELUDE_DELIMITER = Buffer.alloc(8);

/** `awslambda` on globalThis, unless AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA is 1 or true (Lambda's opt-out). */
function installGlobal(env, runtimeError) {
  const optOut = env.AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA;
  if (optOut === '1' || optOut === 'true') return;

  class HttpResponseStream {
    /** Make `stream` start with `metadata` (statusCode, headers, cookies) as the HTTP integration prelude. */
    static from(stream, metadata) {
      stream.setContentType(HTTP_INTEGRATION_CONTENT_TYPE);
      const prelude = JSON.stringify(metadata);
      stream._onBeforeFirstWrite = (write) => {
        write(prelude);
        write(PRELUDE_DELIMITER);
      };
      return stream;
    }
  }
  globalThis.awslambda = {
    ...globalThis.awslambda,
    streamifyResponse(handler, options) {
      if (typeof handler !== 'function') {
        throw runtimeError('MalformedStreamingHandler', 'streamifyResponse expects a function');
      }
      handler[HANDLER_STREAMING] = STREAM_RESPONSE;
      if (options && typeof options.highWaterMark === 'number') {
        handler[HANDLER_HIGHWATERMARK] = Math.trunc(options.highWaterMark);
      }
      return handler;
    },
    HttpResponseStream,
  };
}

function isStreamingHandler(handler) {
  return handler[HANDLER_STREAMING] === STREAM_RESPONSE;
}

/**
 * The Writable a streamified handler gets. Bytes go to `request` (the chunked POST) as they are
 * written; `fail(document)` ends the request with the error trailers instead.
 */
class ResponseStream extends Writable {
  constructor(request, highWaterMark) {
    super(Number.isInteger(highWaterMark) && highWaterMark > 0 ? { highWaterMark } : {});
    this._request = request;
    this._started = false;
    this._preluded = false;
    this._requestEnded = false;
    /** Set by HttpResponseStream.from: writes the prelude through the function it is given. */
    this._onBeforeFirstWrite = null;
    // Errors settle the invocation (through _destroy); none may crash the runtime unheard.
    this.on('error', () => {});
  }

  setContentType(contentType) {
    if (this._started) {
      const error = new Error('Cannot set content-type, too late.');
      error.name = 'Runtime.InvalidStreamingOperation';
      throw error;
    }
    this._request.setHeader('Content-Type', String(contentType));
  }

  write(chunk, encoding, callback) {
    if (this.writableEnded) {
      // Too late: only this write fails; what end() finished stays as it was.
      const error = new Error('write after end');
      error.code = 'ERR_STREAM_WRITE_AFTER_END';
      const done = typeof encoding === 'function' ? encoding : callback;
      if (typeof done === 'function') process.nextTick(done, error);
      return false;
    }
    // As Lambda's stream does: what is neither text nor bytes is written as its JSON.
    if (chunk !== null && chunk !== undefined && typeof chunk !== 'string' && !(chunk instanceof Uint8Array)) {
      chunk = JSON.stringify(chunk);
      if (chunk === undefined) chunk = '';
    }
    this._started = true;
    return super.write(chunk, encoding, callback);
  }

  end(chunk, encoding, callback) {
    if (typeof chunk === 'function') return super.end(chunk);
    if (chunk !== null && chunk !== undefined && !this.writableEnded) this.write(chunk, encoding);
    return super.end(typeof encoding === 'function' ? encoding : callback);
  }

  _prelude() {
    if (this._preluded) return;
    this._preluded = true;
    this._started = true;
    const hook = this._onBeforeFirstWrite;
    if (typeof hook === 'function') hook((bytes) => this._request.write(bytes));
  }

  _write(chunk, _encoding, callback) {
    try {
      this._prelude();
      this._request.write(chunk, (error) => callback(error || null));
    } catch (error) {
      callback(error);
    }
  }

  _final(callback) {
    try {
      this._prelude();
    } catch (error) {
      callback(error);
      return;
    }
    this._endRequest(callback);
  }

  _destroy(error, callback) {
    if (error && !this._requestEnded) this.fail(error);
    callback(error);
  }

  /** End the request with `error` in the trailers, unless it has ended already. */
  fail(error) {
    if (this._requestEnded) return;
    let type;
    let body;
    try {
      const document = this.errorDocument(error);
      body = JSON.stringify(document);
      type = trailerSafe(String(document.errorType));
    } catch (_) {
      // An error made to break serialization still fails the invocation.
      const document = { errorType: 'Error', errorMessage: 'The error thrown could not be serialized', trace: [] };
      body = JSON.stringify(document);
      type = document.errorType;
    }
    try {
      this._request.addTrailers({
        [ERROR_TYPE_TRAILER]: type,
        [ERROR_BODY_TRAILER]: Buffer.from(body).toString('base64'),
      });
    } catch (_) {
      // Trailers can no longer be added (the request broke): the Runtime API sees a cut stream.
    }
    this._endRequest(() => {});
    if (!this.destroyed) this.destroy();
  }

  _endRequest(callback) {
    if (this._requestEnded) {
      callback();
      return;
    }
    this._requestEnded = true;
    this._request.end(() => callback());
  }
}

/** A header value may hold no control characters; an error type that has some loses them. */
function trailerSafe(text) {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\uffff]/g, '').slice(0, 1024) || 'Unknown';
}

/**
 * Open the chunked POST of invocation `id`'s response. Returns `{stream, answered}`: the
 * ResponseStream, and a promise that resolves once the Runtime API has answered (or the
 * connection broke) with `{status, body}` or `{failure}`.
 */
function openResponseStream({ hostname, port, agent, path }, highWaterMark, errorDocument) {
  const request = http.request({
    hostname,
    port,
    path,
    method: 'POST',
    agent,
    headers: {
      'Lambda-Runtime-Function-Response-Mode': 'streaming',
      'Transfer-Encoding': 'chunked',
      Trailer: `${ERROR_TYPE_TRAILER}, ${ERROR_BODY_TRAILER}`,
      'Content-Type': DEFAULT_CONTENT_TYPE,
    },
  });
  const stream = new ResponseStream(request, highWaterMark);
  stream.errorDocument = errorDocument;
  const answered = new Promise((resolve) => {
    request.on('response', (res) => {
      if (!stream._requestEnded) {
        // Answered before the end (the response was refused): the rest of it would go nowhere.
        stream._requestEnded = true;
        request.end();
        stream.destroy(new Error(`the Runtime API answered ${res.statusCode} before the response ended`));
      }
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
      res.on('error', (failure) => resolve({ failure }));
    });
    request.on('error', (failure) => {
      stream._requestEnded = true;
      if (!stream.destroyed) stream.destroy(failure);
      resolve({ failure });
    });
  });
  return { stream, answered };
}

function isThenable(value) {
  const kind = typeof value;
  return value !== null && (kind === 'object' || kind === 'function') && typeof value.then === 'function';
}

/**
 * Run one invocation of `runtime`'s streamified handler (bootstrap.js's Runtime: its api, handler,
 * state, onFatal, onEmptyLoop, describe and describeCaller); resolve once the Runtime API has the
 * response and the handler is done. `errorDocument(error)` shapes what a failure sends.
 */
function invoke(runtime, requestId, headers, body, errorDocument) {
  const target = runtime.api.streamTarget(requestId);
  const { stream, answered } = openResponseStream(target, runtime.handler[HANDLER_HIGHWATERMARK], errorDocument);
  let failed = false;
  const fail = (error) => {
    if (failed) return;
    failed = true;
    try {
      runtime.state.logError('Invoke Error', error instanceof Error ? error : new Error(String(error)));
    } catch (_) {
      // Whatever the handler threw, the stream still ends with it.
    }
    stream.fail(error);
  };
  // An uncaught exception or unhandled rejection ends the stream with the error, then the process.
  runtime.onFatal = (error, status) => {
    fail(error);
    const exit = () => process.exit(status);
    answered.then(exit, exit);
  };
  let waitForEmptyLoop = true;
  const context = {
    get callbackWaitsForEmptyEventLoop() {
      return waitForEmptyLoop;
    },
    set callbackWaitsForEmptyEventLoop(value) {
      waitForEmptyLoop = value;
    },
  };
  runtime.describe(context, headers, requestId);
  let returned = Promise.resolve();
  try {
    runtime.describeCaller(context, headers);
    const result = runtime.handler(JSON.parse(body), stream, context);
    if (!isThenable(result)) {
      fail('Streaming does not support non-async handlers.');
    } else {
      returned = Promise.resolve(result).then((value) => {
        if (value !== undefined) console.warn('Streaming handlers ignore return values.');
      }, fail);
    }
  } catch (error) {
    fail(error);
  }
  // A promise that never settles holds nothing up once the event loop is empty.
  const handlerDone = new Promise((resolve) => {
    returned.then(resolve);
    runtime.onEmptyLoop = resolve;
  });
  return Promise.all([answered, handlerDone]).then(([answer]) => {
    runtime.onEmptyLoop = null;
    if (answer.failure) {
      process.stderr.write(`lambdabox runtime: the response stream broke (${answer.failure})\n`);
    } else if (answer.status !== 202) {
      process.stderr.write(`lambdabox runtime: the result was refused (${answer.status}): ${answer.body}\n`);
    }
    // Replied: a later uncaught error has no invocation to fail (as in bootstrap.js's invoke).
    runtime.onFatal = (_error, status) => process.exit(status);
  });
}

module.exports = { installGlobal, isStreamingHandler, invoke };
