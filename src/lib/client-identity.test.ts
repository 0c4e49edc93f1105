import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { clientIdentity, clientNetwork, networkOf } from './client-identity'

describe('clientIdentity', () => {
  it.each([
    ['203.0.113.7', 'ip4:203.0.113.7'],
    [' 203.0.113.7 ', 'ip4:203.0.113.7'],
    ['::ffff:203.0.113.7', 'ip4:203.0.113.7'],
    ['::FFFF:cb00:7107', 'ip4:203.0.113.7'],
    ['0:0:0:0:0:ffff:203.0.113.7', 'ip4:203.0.113.7'],
    ['2001:db8:1:2::10', 'ip6:2001:0db8:0001:0002::/64'],
    ['2001:db8:1:2::99', 'ip6:2001:0db8:0001:0002::/64'],
    ['2001:DB8:1:2:aaaa:bbbb:cccc:dddd', 'ip6:2001:0db8:0001:0002::/64'],
    ['2001:db8:1:3::1', 'ip6:2001:0db8:0001:0003::/64'],
    ['fe80::1%eth0', 'ip6:fe80:0000:0000:0000::/64'],
    ['::1', 'ip6:0000:0000:0000:0000::/64'],
    ['64:ff9b::203.0.113.7', 'ip6:0064:ff9b:0000:0000::/64'],
  ])('keys %s as %s', (header, key) => {
    expect(clientIdentity(header).key).toBe(key)
  })

  it.each([
    [undefined],
    [''],
    ['unknown'],
    ['203.0.113.256'],
    ['203.0.113'],
    ['01.2.3.4x'],
    ['2001:db8::1::2'],
    ['2001:db8:1:2:3:4:5:6:7'],
    ['2001:db8:zzzz::1'],
    ['1.2.3.4, 5.6.7.8'],
    ['<script>'],
  ])('maps %j to the one shared unknown bucket', (header) => {
    expect(clientIdentity(header)).toEqual({ kind: 'unknown', key: 'unknown' })
  })

  it('puts every address of one /64 in one bucket and neighbouring /64s in others', () => {
    const keys = new Set<string>()
    for (let i = 0; i < 50; i++)
      keys.add(clientIdentity(`2001:db8:abcd:12::${i.toString(16)}:${(i * 7).toString(16)}`).key)
    expect(keys.size).toBe(1)
    expect(clientIdentity('2001:db8:abcd:13::1').key).not.toEqual([...keys][0])
  })
})

describe('clientNetwork', () => {
  it.each([
    ['203.0.113.7', 'net4:203.0.113.0/24'],
    ['203.0.113.250', 'net4:203.0.113.0/24'],
    ['::ffff:203.0.113.9', 'net4:203.0.113.0/24'],
    ['2001:db8:aa:1::1', 'net6:2001:0db8::/32'],
    ['2001:db8:aa:ffff:1:2:3:4', 'net6:2001:0db8::/32'],
    ['2001:db8:ab::1', 'net6:2001:0db8::/32'],
    ['2001:db9::1', 'net6:2001:0db9::/32'],
    [undefined, 'unknown'],
    ['garbage', 'unknown'],
  ])('%s → %s', (ip, network) => {
    expect(clientNetwork(ip)).toBe(network)
    expect(networkOf(clientIdentity(ip))).toBe(network)
  })

  it('is the first three octets, or the first two hextets, of any address', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (ip) => {
        const identity = clientIdentity(ip)
        const groups = identity.key.slice(4).split(identity.kind === 'ipv4' ? '.' : ':')
        const expected =
          identity.kind === 'ipv4'
            ? `net4:${groups.slice(0, 3).join('.')}.0/24`
            : `net6:${groups.slice(0, 2).join(':')}::/32`
        expect(networkOf(identity)).toBe(expected)
      }),
      { numRuns: 500 },
    )
  })
})
