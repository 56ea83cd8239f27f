/**
 * A failure caused by what the user gave us (a bad reference, a broken archive, an entry that escapes the
 * root...). The CLI prints its message alone, without a stack, and exits non-zero.
 */
export class UserError extends Error {
  override readonly name = 'UserError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
