/** An ExecutionContext for calling `createApp().fetch(request, bindings, ctx)` directly with other bindings. */
export const testExecutionContext = {
  waitUntil() {},
  passThroughOnException() {},
  props: {},
} as unknown as ExecutionContext
