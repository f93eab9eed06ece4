/**
 * English mail strings: the reference set. Every other language must provide exactly these keys.
 * `{name}` placeholders are filled with plain text; the HTML template escapes the result.
 * Plural forms are keyed by `Intl.PluralRules` category (`.one`, `.few`, `.many`, `.other`).
 */
export const en = {
  'format.intl': 'en-GB',
  'mail.greeting': 'Hello {name},',
  'mail.securityFooter':
    'This is a security message from {product} about your account; it is sent regardless of notification settings.',
  'verify.subject': '{product}: confirm your e-mail address',
  'verify.intro': 'Please confirm your e-mail address to finish signing up for {product}.',
  'verify.button': 'Confirm my address',
  'verify.ignore': 'If you did not sign up, you can ignore this message.',
  'reset.subject': '{product}: reset your password',
  'reset.intro': 'Someone (we hope you) asked to reset your {product} password.',
  'reset.button': 'Choose a new password',
  'reset.until': 'The link works until {time}.',
  'reset.ignore': 'If you did not ask for this, do nothing: your password stays as it is.',
  'registrationAttempt.subject': '{product}: someone tried to sign up with your address',
  'registrationAttempt.intro':
    'Someone (perhaps you) tried to sign up for {product} with this e-mail address. It already has an account, so no new one was created.',
  'registrationAttempt.login': 'Log in',
  'registrationAttempt.forgot': 'If you forgot your password, choose a new one:',
  'registrationAttempt.reset': 'Reset my password',
  'registrationAttempt.notYou': 'If it was not you, do nothing: your account is unchanged.',
  'emailChangeConfirm.subject': '{product}: confirm your new e-mail address',
  'emailChangeConfirm.intro':
    'Please confirm that {email} is to become the address of your {product} account.',
  'emailChangeConfirm.button': 'Confirm the new address',
  'emailChangeNotice.subject': '{product}: e-mail address change requested',
  'emailChangeNotice.intro':
    "A change of your {product} account's e-mail address to {email} was requested. It takes effect only once the new address is confirmed.",
  'emailChangeNotice.notYou':
    'If this was not you, change your password and tell your community administrator.',
  'chat.subject.direct': '{product}: new message from {sender}',
  'chat.subject.mention': '{product}: {sender} mentioned you in #{room}',
  'chat.subject.digest': '{product}: {count} unread messages',
  'chat.intro.one': 'While you were away, you got a message:',
  'chat.intro.several': 'While you were away, you got {count} messages:',
  'chat.where.direct': 'direct message',
  'chat.where.room': '#{room}',
  'chat.where.mention': '#{room}, mention',
  'chat.reply': 'Reply to {sender}',
  'chat.open': 'Open #{room}',
  'chat.footer': 'You received this because e-mail notifications are on in {product}.',
  'chat.settings': 'Notification settings',
  'chat.unsubscribe': 'Unsubscribe',
  'logAlert.subject': '{product}: alert "{alert}" fired ({source})',
  'logAlert.fired':
    'Alert "{alert}" on source "{source}" fired: {lines} within {window} (threshold: {threshold}; search: {filter}), from {from} to {to}.',
  'logAlert.suppressed':
    'Since the previous mail it fired {times} more; to spare your inbox we write at most once every {coolDown}.',
  'logAlert.lines.one': '{count} line',
  'logAlert.lines.few': '{count} lines',
  'logAlert.lines.many': '{count} lines',
  'logAlert.lines.other': '{count} lines',
  'logAlert.times.one': 'once',
  'logAlert.times.few': '{count} times',
  'logAlert.times.many': '{count} times',
  'logAlert.times.other': '{count} times',
  'logAlert.window.hours': '{count} h',
  'logAlert.window.minutes': '{count} min',
  'logAlert.window.seconds': '{count} s',
  'logAlert.filter.text': 'text "{value}"',
  'logAlert.filter.severity': 'severity ≤ {value}',
  'logAlert.filter.file': 'file {value}',
  'logAlert.filter.host': 'host {value}',
  'logAlert.filter.sender': 'sender {value}',
  'logAlert.filter.any': 'any line',
  'logAlert.sample': 'line',
  'logAlert.open': 'Open the logs',
  'logAlert.footer':
    'You received this because you set up this alert in {product}. Disable or change it on the logs screen.',
} as const;

export type MessageKey = keyof typeof en;
