/**
 * Payload envelope encryption: {@link dev.keymanager.core.envelope.EnvelopeCipher} encrypts byte
 * arrays, buffers and files under DEKs it generates (one-shot payloads share one within bounds), on
 * top of the public {@link dev.keymanager.KeyManager} interface.
 *
 * <h2>Formats</h2>
 *
 * Every payload starts with an envelope header (integers big-endian):
 *
 * <pre>
 * offset  size  field
 * 0       2     magic "KE" (0x4B 0x45)
 * 2       1     format version (1)
 * 3       1     kind: 1 = one-shot, 2 = streaming
 * 4       2     length W of the wrapped DEK (1..1024)
 * 6       W     the wrapped DEK ({@link dev.keymanager.WrappedKey} encoding: KEK id and version)
 * </pre>
 *
 * <p><b>One-shot</b> (kind 1), for byte arrays and buffers:
 *
 * <pre>
 * 6+W     12    AES-GCM nonce (unique per DEK: random for its first payload, then XOR the payload number)
 * 18+W    n     AES-256-GCM ciphertext of the n-byte plaintext under the DEK
 * 18+W+n  16    tag
 * associated data: bytes [0, 18+W) then the canonical KeyContext encoding
 * </pre>
 *
 * <p><b>Streaming</b> (kind 2), for files, with random access: Tink's AES-GCM-HKDF streaming AEAD
 * (HKDF-SHA256, AES-256-GCM segments), its first segment offset being the envelope header.
 *
 * <pre>
 * 6+W     1     log2 of the ciphertext segment size S (12..22: 4 KiB to 4 MiB)
 * 7+W     40    Tink header: 0x28, 32-byte HKDF salt, 7-byte nonce prefix
 * 47+W    ...   segments: segment i (i &gt;= 1) starts at offset i*S and is S bytes long, except
 *               the last; segment 0 is S-47-W bytes. Each is AES-256-GCM ciphertext and a 16-byte
 *               tag under the payload key, nonce = prefix || i (32 bits) || last-segment flag.
 * payload key: HKDF-SHA256(DEK, salt, info = associated data), 32 bytes
 * associated data: bytes [0, 7+W) then the canonical KeyContext encoding
 * </pre>
 *
 * The segment number in each nonce detects reordering; the last-segment flag detects truncation at
 * a segment boundary and appended bytes. Segments sit at multiples of S in the file, so a segment
 * read is an aligned read.
 *
 * <p>Golden vectors for both kinds are committed in {@code
 * keymanager-core/src/test/resources/golden/envelope-v1.properties}; a change that stops them
 * decrypting fails the build.
 *
 * <p>Parameters and results are never {@code null} unless documented.
 */
package dev.keymanager.core.envelope;
