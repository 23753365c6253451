// Package secrets encrypts remote-account credentials at rest.
//
// A Keyring holds one or more 32-byte keys, each with a short id; the first
// key listed is the primary. Seal encrypts with the primary key using
// XChaCha20-Poly1305 and returns a Sealed value that carries the key id in
// clear, so Open can pick the right key after a rotation. Rotating keys means
// listing the new key first and keeping the old ones until Reseal has moved
// every stored value to the primary key.
//
// Failure semantics: Open returns ErrUnknownKey when the value names a key
// the ring does not hold, and ErrDecrypt when the value was altered, was
// sealed for another context, or the key under that id is not the one that
// sealed it. Neither error carries plaintext or key material. Loading a
// keyring reports every problem of its configuration at once.
package secrets
