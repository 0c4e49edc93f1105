/**
 * Secrets from standard input, never from the command line (where `ps`, shell history and CI logs would keep
 * them): typed at a terminal without echo, or piped (`read -rs PW; printf '%s' "$PW" | …`).
 */

/** A failure with a message that says how to fix it, and never holds the secret. */
export class InputError extends Error {
  override name = 'InputError'
}

interface Terminal {
  isTTY?: boolean
  setRawMode?(mode: boolean): unknown
  setEncoding(encoding: BufferEncoding): unknown
  on(event: 'data', listener: (chunk: string) => void): unknown
  off(event: 'data', listener: (chunk: string) => void): unknown
  resume(): unknown
  pause(): unknown
}

/**
 * One line typed at the terminal without echo. Backspace deletes; Ctrl-C and Ctrl-D on an empty line cancel.
 * @example const pepper = await readHidden(process.stdin, process.stderr, 'PASSWORD_PEPPER: ')
 */
export function readHidden(input: Terminal, output: { write(text: string): unknown }, prompt: string): Promise<string> {
  if (input.setRawMode === undefined) throw new InputError('standard input is not a terminal')
  output.write(prompt)
  input.setRawMode(true)
  input.setEncoding('utf8')
  input.resume()
  return new Promise((resolve, reject) => {
    let value = ''
    const finish = () => {
      input.off('data', onData)
      input.setRawMode?.(false)
      input.pause()
      output.write('\n')
    }
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n') {
          finish()
          return resolve(value)
        }
        if (char === '\u0003' || (char === '\u0004' && value === '')) {
          finish()
          return reject(new InputError('cancelled'))
        }
        if (char === '\u007f' || char === '\b') value = [...value].slice(0, -1).join('')
        else value += char
      }
    }
    input.on('data', onData)
  })
}

/**
 * Everything piped to standard input, without one trailing line break. More than one line is refused: a
 * password never holds a line break, and a piped file is more likely a mistake.
 */
export async function readPiped(input: AsyncIterable<Buffer | string> | Iterable<Buffer | string>): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of input) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)
  const text = Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '')
  if (/[\r\n]/.test(text)) throw new InputError('standard input holds more than one line; pipe the password alone')
  return text
}

/**
 * The new password: typed twice at a terminal, or piped. Empty is refused here; the policy is the caller's.
 * @example const password = await readPassword(process.stdin, process.stderr)
 */
export async function readPassword(
  input: Terminal & AsyncIterable<Buffer | string>,
  output: { write(text: string): unknown },
): Promise<string> {
  let password: string
  if (input.isTTY) {
    password = await readHidden(input, output, 'Password for the new account (not shown): ')
    const again = await readHidden(input, output, 'The same password again: ')
    if (again !== password) throw new InputError('the two passwords differ; nothing was written')
  } else {
    password = await readPiped(input)
  }
  if (password.length === 0) throw new InputError('no password on standard input')
  return password
}
