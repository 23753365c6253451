// Package keydiscovery finds the OpenPGP keys of e-mail addresses where
// GnuPG's --locate-external-keys looks for them:
//
//   - WKD, the Web Key Directory (draft-koch-openpgp-webkey-service): the
//     advanced method (https://openpgpkey.<domain>/.well-known/openpgpkey/
//     <domain>/hu/<hash>?l=<local>) when openpgpkey.<domain> resolves, else
//     the direct method (https://<domain>/.well-known/openpgpkey/hu/<hash>
//     ?l=<local>), as GnuPG decides; <hash> is the z-base-32 encoded SHA-1
//     of the lowercased local part;
//   - DNS OPENPGPKEY records (RFC 7929) at <hex SHA2-256 of the local part,
//     truncated to 28 octets>._openpgpkey.<domain>, the DNSSEC status (AD
//     bit) of the answer recorded;
//   - HKP keyservers (op=index, then op=get for each key it lists,
//     options=mr);
//   - Autocrypt headers (Autocrypt Level 1) of mail received from the
//     address: the newest message's header wins.
//
// A key is kept only if one of its valid user ids carries the address, it
// is neither revoked nor expired, and its answer is bounded in size
// (Keys). Discover runs every (source, address) lookup in parallel, each
// with its own timeout, so one slow source never stalls the others.
// Outbound connections go through package netguard: no private or
// loopback destinations unless configured.
package keydiscovery
