/**
 * Process settings that must be in place before the first asynchronous file or zlib operation. Layer
 * compression keeps several blocks deflating on libuv's thread pool; with the default four threads, file
 * reads would queue behind them. Imported first by the CLI; library users may set UV_THREADPOOL_SIZE.
 */
if (process.env['UV_THREADPOOL_SIZE'] === undefined) process.env['UV_THREADPOOL_SIZE'] = '8';

