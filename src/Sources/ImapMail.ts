/**
 * A mail as a record: the `Mail` payload (plain JSON, so it survives the store unchanged), its key, and
 * how a fetched message is parsed into one (mailparser), or recorded as unreadable with its UID.
 *
 * @since 0.3.0
 */
import { Effect, Schema } from "effect"
import type { FetchMessageObject } from "imapflow"
import { simpleParser, type AddressObject, type EmailAddress, type ParsedMail } from "mailparser"
import { SourceRecord } from "../Domain/Item.js"

/**
 * A mail address as parsed from a header.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Address = Schema.Struct({
  /** The display name, "" when there is none. */
  name: Schema.String,
  address: Schema.String
})

/** @since 0.1.0 */
export type Address = typeof Address.Type

/**
 * A record's payload. Plain JSON (its encoded and decoded forms are the same), so a processor decodes
 * `item.payload` with it and a mail survives the store unchanged.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Mail = Schema.Struct({
  uid: Schema.Number,
  /** The mailbox's UIDVALIDITY when the mail was read: `uid` means this message only under it. */
  uidValidity: Schema.String,
  /** The Message-ID header as sent, angle brackets included; null when the mail has none. */
  messageId: Schema.NullOr(Schema.String),
  from: Schema.NullOr(Address),
  to: Schema.Array(Address),
  subject: Schema.String,
  /** The Date header as ISO 8601; null when absent or unreadable. */
  date: Schema.NullOr(Schema.String),
  /** The plain-text body; generated from the HTML part when the mail has no text part. */
  text: Schema.String
})

/** @since 0.1.0 */
export type Mail = typeof Mail.Type

/**
 * An item's key: the Message-ID, else `uidvalidity:uid` (stable as long as the mailbox is not recreated).
 *
 * @since 0.1.0
 */
export const keyOf = (mail: Pick<Mail, "messageId" | "uid" | "uidValidity">): string =>
  mail.messageId ?? `${mail.uidValidity}:${mail.uid}`

const addresses = (field: AddressObject | ReadonlyArray<AddressObject> | undefined): Array<Address> => {
  if (field === undefined) return []
  const flat = (list: ReadonlyArray<EmailAddress>): Array<Address> =>
    list.flatMap((a) =>
      a.group !== undefined
        ? flat(a.group)
        : a.address === undefined
          ? []
          : [{ name: a.name ?? "", address: a.address }]
    )
  return (Array.isArray(field) ? field : [field as AddressObject]).flatMap((o) => flat(o.value))
}

/** The payload of a parsed message. */
const toMail = (parsed: ParsedMail, uid: number, uidValidity: string): Mail => {
  const messageId = parsed.messageId?.trim()
  const date = parsed.date !== undefined && !Number.isNaN(parsed.date.getTime()) ? parsed.date.toISOString() : null
  return {
    uid,
    uidValidity,
    messageId: messageId === undefined || messageId.length === 0 ? null : messageId,
    from: addresses(parsed.from)[0] ?? null,
    to: addresses(parsed.to),
    subject: parsed.subject ?? "",
    date,
    text: parsed.text ?? ""
  }
}

/**
 * A fetched message as a record: parsed, or malformed with the reason and its UID.
 *
 * @since 0.3.0
 */
export const parse = (message: FetchMessageObject, uidValidity: string): Effect.Effect<SourceRecord> => {
  const fallback = `${uidValidity}:${message.uid}`
  const source = message.source
  if (source === undefined) {
    return Effect.succeed(
      SourceRecord.malformed(fallback, message.uid, `UID ${message.uid}: the server sent no message source`)
    )
  }
  return Effect.tryPromise(() =>
    simpleParser(source, { skipImageLinks: true, skipTextToHtml: true, skipTextLinks: true })
  ).pipe(
    Effect.map((parsed) => {
      const mail = toMail(parsed, message.uid, uidValidity)
      return SourceRecord.record(keyOf(mail), mail)
    }),
    Effect.catchAll((e) =>
      Effect.succeed(
        SourceRecord.malformed(
          fallback,
          message.uid,
          `UID ${message.uid} could not be parsed: ${String(e.error).slice(0, 200)}`
        )
      )
    )
  )
}
