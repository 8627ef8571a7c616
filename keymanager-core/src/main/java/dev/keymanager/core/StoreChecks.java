package dev.keymanager.core;

import static java.util.Objects.requireNonNull;

import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.spi.KekHead;

/** The argument checks that every {@link dev.keymanager.spi.KekStore} write makes first. */
final class StoreChecks {
  private StoreChecks() {}

  /** Checks a record passed to {@code create}: non-null, revision 1. */
  static void checkNewRecord(KeyEncryptionKey record) {
    requireNonNull(record, "record");
    if (record.revision() != 1) {
      throw new IllegalArgumentException(
          "a new KEK record must have revision 1: " + record.ref() + " has " + record.revision());
    }
  }

  /** Checks a record passed to {@code compareAndSet}: non-null, revision one above expected. */
  static void checkNextRevision(long expectedRevision, KeyEncryptionKey next) {
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

  /** Checks a head passed to {@code createHead}: non-null, revision 1. */
  static void checkNewHead(KekHead head) {
    requireNonNull(head, "head");
    if (head.revision() != 1) {
      throw new IllegalArgumentException(
          "a new KEK head must have revision 1: " + head.id() + " has " + head.revision());
    }
  }

  /** Checks a head passed to {@code compareAndSetHead}: non-null, revision one above expected. */
  static void checkNextHead(long expectedRevision, KekHead next) {
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
