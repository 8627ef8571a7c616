package dev.keymanager.spi;

import static java.util.Objects.requireNonNull;

import dev.keymanager.KekRef;
import dev.keymanager.KeyEncryptionKey;

/**
 * The argument checks that every {@link KekStore} write (and the listing) makes before it touches
 * storage, shared by the built-in stores so that each one refuses the same arguments with the same
 * messages. A store of your own calls the matching check first in {@code create}, {@code
 * compareAndSet}, {@code createHead}, {@code compareAndSetHead} and {@code kekIds}.
 *
 * <p>Each check throws {@link NullPointerException} for a {@code null} argument and {@link
 * IllegalArgumentException} for a revision that breaks the store contract.
 */
public final class KekStoreChecks {
  private KekStoreChecks() {}

  /**
   * Checks the arguments of {@link KekStore#kekIds(String, int)}: {@code after} is {@code ""} or a
   * valid KEK id, {@code limit} is at least 1.
   *
   * @param after where the page starts (exclusive)
   * @param limit the most ids the page may hold
   */
  public static void checkPage(String after, int limit) {
    requireNonNull(after, "after");
    if (!after.isEmpty()) {
      KekRef.checkId(after);
    }
    if (limit < 1) {
      throw new IllegalArgumentException("page limit must be >= 1: " + limit);
    }
  }

  /**
   * Checks a record passed to {@code create}: non-null, revision 1.
   *
   * @param record the record to create
   */
  public static void checkNewRecord(KeyEncryptionKey record) {
    requireNonNull(record, "record");
    if (record.revision() != 1) {
      throw new IllegalArgumentException(
          "a new KEK record must have revision 1: " + record.ref() + " has " + record.revision());
    }
  }

  /**
   * Checks a record passed to {@code compareAndSet}: non-null, revision one above expected.
   *
   * @param expectedRevision the revision the caller expects the stored record to have
   * @param next the record to store in its place
   */
  public static void checkNextRevision(long expectedRevision, KeyEncryptionKey next) {
    requireNonNull(next, "next");
    // Long.MAX_VALUE + 1 overflows to a negative revision, which no record can have.
    if (expectedRevision == Long.MAX_VALUE || next.revision() != expectedRevision + 1) {
      throw new IllegalArgumentException(
          "next revision of "
              + next.ref()
              + " must be "
              + expectedRevision
              + " + 1, was "
              + next.revision());
    }
  }

  /**
   * Checks a head passed to {@code createHead}: non-null, revision 1.
   *
   * @param head the head to create
   */
  public static void checkNewHead(KekHead head) {
    requireNonNull(head, "head");
    if (head.revision() != 1) {
      throw new IllegalArgumentException(
          "a new KEK head must have revision 1: " + head.id() + " has " + head.revision());
    }
  }

  /**
   * Checks a head passed to {@code compareAndSetHead}: non-null, revision one above expected.
   *
   * @param expectedRevision the revision the caller expects the stored head to have
   * @param next the head to store in its place
   */
  public static void checkNextHead(long expectedRevision, KekHead next) {
    requireNonNull(next, "next");
    if (expectedRevision == Long.MAX_VALUE || next.revision() != expectedRevision + 1) {
      throw new IllegalArgumentException(
          "next revision of the head of KEK "
              + next.id()
              + " must be "
              + expectedRevision
              + " + 1, was "
              + next.revision());
    }
  }
}
