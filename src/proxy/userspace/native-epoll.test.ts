// native.test.ts again, on the pump's epoll engine (the one used where io_uring is not available:
// no liburing at build time, an old kernel, seccomp, kernel.io_uring_disabled).
process.env.PORTICO_RELAY_IO = 'epoll';
await import('./native.test.js');
