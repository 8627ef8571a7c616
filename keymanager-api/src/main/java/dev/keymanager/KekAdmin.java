package dev.keymanager;

import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * KEK administration: create, import, rotate, retire old versions, change CMK, disable and enable,
 * schedule and carry out destruction, describe and list. Served by {@link KeyManager#admin()}; the
 * data path (generate, wrap, unwrap, rewrap) is {@link DataKeyService}, so a component that only
 * reads and writes data can be handed that and never reach these operations.
 *
 * <p>Implementations are thread-safe. Every method may throw {@link KmsUnavailableException}
 * (retryable) or {@link KeyAccessDeniedException} when it needs the KMS, {@link KekStoreException}
 * when the store fails, and {@link IllegalStateException} once the key manager is closed; each
 * method lists only its other failures.
 *
 * <h2>KEK lifecycle</h2>
 *
 * A KEK is a list of versions, each a {@link KeyEncryptionKey} record in the store holding its
 * wrapped material and its CMK, and one head record ({@link dev.keymanager.spi.KekHead}) holding
 * the KEK's {@link KekState}, its primary version (new DEKs are wrapped under it), its minimum
 * decryption version and when a scheduled destruction falls due. Every lifecycle operation below is
 * decided by one compare-and-set on the head, so concurrent writers (threads, processes, nodes
 * sharing a store) never overwrite each other's change: the loser re-reads and either re-applies
 * its change or fails with the state it found, and once a change has returned no writer can undo it
 * by a write it prepared earlier. A rotation writes its new version record first and then moves the
 * head; a version the head does not name is never used, so a crash part-way leaves the KEK as it
 * was, and running the same operation again completes it (every operation is idempotent). The
 * description an operation returns is the state its own write produced. Each operation emits one
 * {@link dev.keymanager.spi.AuditEvent}, and one more per KMS call it makes.
 *
 * <table>
 *   <caption>KEK states and the transitions each operation allows</caption>
 *   <tr><th>operation</th><th>allowed from</th><th>to</th></tr>
 *   <tr><td>{@link #createKek createKek}, {@link #importKek importKek} (version 1)</td>
 *       <td>(no KEK)</td><td>{@code ENABLED}</td></tr>
 *   <tr><td>{@link #rotateKek rotateKek}, {@link #importKek importKek} (next version)</td>
 *       <td>{@code ENABLED}</td><td>{@code ENABLED}, with a new primary version</td></tr>
 *   <tr><td>{@link #setMinimumDecryptionVersion setMinimumDecryptionVersion}</td>
 *       <td>{@code ENABLED}, {@code DISABLED}</td><td>unchanged; older versions {@code RETIRED} or
 *       back</td></tr>
 *   <tr><td>{@link #changeCmk changeCmk}</td><td>{@code ENABLED}, {@code DISABLED}</td>
 *       <td>unchanged</td></tr>
 *   <tr><td>{@link #disableKek disableKek}</td><td>{@code ENABLED}, {@code DISABLED} (no-op)</td>
 *       <td>{@code DISABLED}</td></tr>
 *   <tr><td>{@link #enableKek enableKek}</td><td>{@code DISABLED}, {@code ENABLED} (no-op)</td>
 *       <td>{@code ENABLED}</td></tr>
 *   <tr><td>{@link #scheduleKekDestruction scheduleKekDestruction}</td>
 *       <td>{@code ENABLED}, {@code DISABLED}</td><td>{@code PENDING_DESTRUCTION}</td></tr>
 *   <tr><td>{@link #cancelKekDestruction cancelKekDestruction}</td>
 *       <td>{@code PENDING_DESTRUCTION}</td><td>{@code DISABLED}</td></tr>
 *   <tr><td>{@link #destroyKek destroyKek}</td><td>{@code PENDING_DESTRUCTION} once its window
 *       has ended, {@code DESTROYED} (no-op)</td><td>{@code DESTROYED}</td></tr>
 * </table>
 *
 * <p>Any other operation on a KEK in a state the table does not list raises {@link
 * KekStateException} with the current state in its message ({@link KekStateException#state()}).
 * {@code RETIRED} versions stay retired through disable, enable and cancel, are not scheduled (they
 * are unusable already) and are destroyed with the KEK.
 *
 * <p>State changes made here take effect in this key manager at once (cached KEKs that may no
 * longer be used are overwritten); key managers in other processes sharing the store notice them
 * within their hard TTL, the same bound as a CMK revocation.
 */
public interface KekAdmin {
  /** KMS context key that binds a KEK's wrapped material to the KEK id. */
  String KMS_CONTEXT_KEK_ID = "keymanager:kek-id";

  /** KMS context key that binds a KEK's wrapped material to the KEK version (decimal). */
  String KMS_CONTEXT_KEK_VERSION = "keymanager:kek-version";

  /**
   * The exact KMS context (AWS encryption context, or the provider's associated data) under which
   * the material of KEK version {@code ref} is wrapped: what a customer binds when pre-wrapping
   * material for {@link #importKek}, and what this library binds for the KEKs it creates.
   *
   * <pre>{@code
   * KeyContext kmsContext = KekAdmin.kmsContextFor(new KekRef("orders", 1));
   * // {keymanager:kek-id=orders, keymanager:kek-version=1}
   * }</pre>
   */
  static KeyContext kmsContextFor(KekRef ref) {
    return KeyContext.of(
        Map.of(
            KMS_CONTEXT_KEK_ID,
            ref.id(),
            KMS_CONTEXT_KEK_VERSION,
            Integer.toString(ref.version())));
  }

  /**
   * Creates version 1 of a new KEK: 32 random bytes, wrapped by the CMK at {@code cmkUri} and
   * stored. The plaintext goes into the cache, so the first DEK operation needs no KMS call.
   *
   * @throws KekStateException if a KEK with this id exists already
   * @throws KeyManagerConfigException if no provider handles the URI's scheme, the URI is
   *     malformed, or the provider cannot wrap
   * @throws IllegalArgumentException if the id is not a valid KEK id ({@link KekRef#checkId})
   */
  KeyEncryptionKey createKek(String kekId, URI cmkUri);

  /**
   * Imports a KEK version that the customer generated and wrapped with their own CMK, so that only
   * unwrap rights on the CMK are ever needed: every read path (DEK unwrap, wrap, rewrap) uses only
   * {@link dev.keymanager.spi.KmsUnwrapper}.
   *
   * <p>The customer encrypts 32 random bytes with the CMK, binding the KMS context (AWS encryption
   * context, or the provider's associated data) {@code keymanager:kek-id = <id>} and {@code
   * keymanager:kek-version = <version>} (decimal), exactly the context this library uses for KEKs
   * it creates. The import verifies the material with one KMS unwrap (which must give 32 bytes)
   * before storing it, and caches the plaintext so the first DEK operation makes no KMS call.
   *
   * <p>Version 1 creates a new KEK. A higher version must be the current primary version plus one
   * and adds a new primary, as {@link #rotateKek} does, with customer-made material.
   *
   * @param ref the KEK id and the version the material was wrapped for
   * @param wrappedMaterial the KMS ciphertext; read, not kept
   * @throws KekStateException if that version exists already, the version is not 1 for a new KEK
   *     nor the next version of an enabled one, or the KEK is not enabled
   * @throws InvalidCiphertextException if the CMK cannot unwrap the material under that context, or
   *     it does not hold 32 bytes
   * @throws KeyManagerConfigException if no provider handles the URI
   */
  KeyEncryptionKey importKek(KekRef ref, URI cmkUri, byte[] wrappedMaterial);

  /**
   * Rotates a KEK: creates version <i>n</i>+1 under the primary's CMK and makes it the primary.
   * Earlier versions keep unwrapping their DEKs; new DEKs are wrapped under the new version. Two
   * concurrent rotations each create their own version (the store's create-if-absent lets exactly
   * one writer create each version, and each moves the head in turn); neither is lost.
   *
   * @return the new primary version's record
   * @throws KekStateException if the KEK does not exist or is not {@link KekState#ENABLED}, or a
   *     concurrent state change (a disable, a scheduled destruction) moved the head while rotating;
   *     the new version record is then never used
   * @throws KeyManagerConfigException if the CMK's provider can only unwrap (import instead)
   */
  KeyEncryptionKey rotateKek(String kekId);

  /**
   * Sets the lowest KEK version whose DEKs may still be unwrapped, as Vault Transit's {@code
   * min_decryption_version}: versions below it become {@link KekState#RETIRED}, retired versions at
   * or above it take the KEK's state again. Retire old versions after {@linkplain
   * DataKeyService#rewrapDeks rewrapping} their DEKs; lower the minimum to bring them back.
   *
   * <p>The minimum is stored in the KEK's head record ({@link
   * dev.keymanager.spi.KekHead#minimumDecryptionVersion()}), changed by one compare-and-set like
   * every KEK-wide change; {@link KekDescription#minimumDecryptionVersion()} reads it back.
   *
   * @throws KekStateException if the KEK does not exist or is pending destruction or destroyed
   * @throws IllegalArgumentException if {@code version} is below 1 or above the primary version
   */
  KekDescription setMinimumDecryptionVersion(String kekId, int version);

  /**
   * Moves every version of a KEK to another CMK: unwraps each with its current CMK, wraps the same
   * bytes with {@code newCmkUri}, checks that the new ciphertext unwraps, and stores it. The KEK
   * bytes do not change, so every DEK stays valid, and once this returns the old CMK is no longer
   * needed. Versions already under the new CMK are skipped, so a run that failed part-way can be
   * repeated.
   *
   * @throws KekStateException if the KEK does not exist or is pending destruction or destroyed
   * @throws KeyManagerConfigException if no provider handles the new URI or it can only unwrap
   */
  KekDescription changeCmk(String kekId, URI newCmkUri);

  /**
   * Disables a KEK: no DEK under any of its versions is wrapped or unwrapped until {@link
   * #enableKek}. Cached copies in this key manager are overwritten at once.
   *
   * @throws KekStateException if the KEK does not exist or is pending destruction or destroyed
   */
  KekDescription disableKek(String kekId);

  /**
   * Enables a disabled KEK again (versions below the minimum decryption version stay retired).
   *
   * @throws KekStateException if the KEK does not exist or is pending destruction or destroyed
   */
  KekDescription enableKek(String kekId);

  /**
   * Schedules the destruction of every version of a KEK {@code pendingWindow} from now, as AWS
   * KMS's {@code ScheduleKeyDeletion}. Until then the KEK is unusable and {@link
   * #cancelKekDestruction} brings it back (disabled); after, {@link #destroyKek} shreds it.
   *
   * @throws KekStateException if the KEK does not exist or is pending destruction or destroyed
   * @throws IllegalArgumentException if {@code pendingWindow} is outside the key manager's bounds
   *     (by default 7 to 30 days, as AWS KMS)
   */
  KekDescription scheduleKekDestruction(String kekId, Duration pendingWindow);

  /**
   * Cancels a scheduled destruction; the KEK becomes {@link KekState#DISABLED}.
   *
   * @throws KekStateException if the KEK does not exist or is not pending destruction
   */
  KekDescription cancelKekDestruction(String kekId);

  /**
   * Destroys a KEK whose pending window has ended (crypto-shredding): removes the wrapped material
   * of every version from the store and overwrites every cached copy in this key manager. Every DEK
   * wrapped under it is unrecoverable from then on: unwrapping one fails with {@link
   * KekStateException} naming the KEK, even with full access to the CMK. Idempotent.
   *
   * @throws KekStateException if the KEK does not exist, is not pending destruction, or its window
   *     has not ended
   */
  KekDescription destroyKek(String kekId);

  /**
   * Destroys every KEK whose pending window has ended, as {@link #destroyKek} does each; call it
   * periodically (a library runs no timer of its own for this). Returns the ids destroyed.
   *
   * <p>A KEK whose records cannot be read (corrupt) is skipped, not destroyed: it is logged as a
   * warning naming the record and counted in {@link KeyManagerStats#unreadableRecords()}, and every
   * other due KEK is still destroyed.
   *
   * @throws KekStoreException (retryable) if the store itself fails; KEKs destroyed before stay so
   */
  List<String> destroyDueKeks();

  /** The record of the KEK's primary (newest) version, if the KEK exists. Makes no KMS call. */
  Optional<KeyEncryptionKey> describeKek(String kekId);

  /** Every version of the KEK and what follows from them, if it exists. Makes no KMS call. */
  Optional<KekDescription> describeKekVersions(String kekId);

  /**
   * The ids of every KEK in the store, in code point order ({@link
   * dev.keymanager.spi.KekIdPage#ORDER}). Makes no KMS call; reads the store a page of 1,000 ids at
   * a time.
   *
   * <p>A record the store cannot read (corrupt) hides no other KEK: every id the store lists is
   * returned, and each unreadable entry the store reports is logged as a warning naming it and
   * counted in {@link KeyManagerStats#unreadableRecords()}.
   */
  List<String> listKeks();
}
