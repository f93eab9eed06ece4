/** The screens before signing in: log in, register, verify e-mail, reset password, unsubscribe. */
import { useEffect, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { account, auth } from '../api/endpoints.ts';
import { ApiError } from '../api/http.ts';
import { useI18n, type Translate } from '../i18n/index.tsx';
import { negotiateRefusal } from '../session/kerberos.ts';
import { ErrorNote, Field, LanguageSwitch, Logo, errorText, useAction } from './common.tsx';
import { useSessionStore } from './context.tsx';

function AuthLayout({ title, children }: { title: string; children: ReactNode }) {
  const { t } = useI18n();
  return (
    <div className="auth-page">
      <main className="auth-card" aria-labelledby="auth-title">
        <div className="auth-brand">
          <Logo size={40} />
          <div>
            <div className="brand-name">{t('app.name')}</div>
            <div className="brand-tagline">{t('app.tagline')}</div>
          </div>
        </div>
        <h1 id="auth-title">{title}</h1>
        {children}
      </main>
      <footer className="auth-footer">
        <LanguageSwitch />
      </footer>
    </div>
  );
}

/**
 * Why a Kerberos sign-in failed, from the gateway's refusal: the browser sent no token (no ticket, or
 * its policy does not allow this server), the principal is linked to no account, or the token was bad.
 */
function kerberosErrorText(t: Translate, error: unknown): string {
  if (error instanceof ApiError && error.code === 'not_found') return t('auth.kerberos.off');
  const reason = negotiateRefusal(error);
  if (reason === 'missing_token') return t('auth.kerberos.noTicket');
  if (reason === 'unknown_principal') return t('auth.kerberos.unlinked');
  if (error instanceof ApiError && error.code === 'unauthorized') return t('auth.kerberos.refused');
  return errorText(t, error);
}

export function LoginScreen() {
  const { t } = useI18n();
  const session = useSessionStore();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const { busy, error, run } = useAction(async () => {
    await session.login(email.trim(), password);
    await navigate(params.get('next') ?? '/', { replace: true });
  });
  const kerberos = useAction(async () => {
    await session.loginWithKerberos();
    await navigate(params.get('next') ?? '/', { replace: true });
  });
  const message =
    error instanceof ApiError && error.code === 'unauthorized'
      ? t('error.invalid_credentials')
      : error
        ? errorText(t, error)
        : kerberos.error
          ? kerberosErrorText(t, kerberos.error)
          : undefined;
  return (
    <AuthLayout title={t('auth.login.title')}>
      <form
        className="stack"
        onSubmit={(e: FormEvent) => {
          e.preventDefault();
          void run();
        }}
      >
        {message && (
          <p className="alert alert-error" role="alert">
            {message}
          </p>
        )}
        <Field
          label={t('auth.email')}
          type="email"
          autoComplete="email"
          required
          value={email}
          onChange={(e) => setEmail(e.target.value)}
        />
        <Field
          label={t('auth.password')}
          type="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        <button className="button button-primary" disabled={busy}>
          {t('auth.login.submit')}
        </button>
        <button
          type="button"
          className="button button-secondary"
          disabled={kerberos.busy}
          onClick={() => void kerberos.run()}
        >
          {t('auth.kerberos.submit')}
        </button>
      </form>
      <p className="auth-links">
        <Link to="/reset-password">{t('auth.login.forgot')}</Link>
        <span>
          {t('auth.login.noAccount')} <Link to="/register">{t('auth.toRegister')}</Link>
        </span>
      </p>
    </AuthLayout>
  );
}

export function RegisterScreen() {
  const { t, locale } = useI18n();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [done, setDone] = useState(false);
  const { busy, error, run } = useAction(async () => {
    const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    await auth.register({
      email: email.trim(),
      password,
      displayName: displayName.trim(),
      locale,
      ...(timeZone ? { timeZone } : {}),
    });
    setDone(true);
  });
  if (done) {
    return (
      <AuthLayout title={t('auth.register.title')}>
        <p className="alert alert-ok" role="status">
          {t('auth.register.done', { email })}
        </p>
        <Link className="button button-secondary" to="/login">
          {t('auth.toLogin')}
        </Link>
      </AuthLayout>
    );
  }
  return (
    <AuthLayout title={t('auth.register.title')}>
      <form
        className="stack"
        onSubmit={(e) => {
          e.preventDefault();
          void run();
        }}
      >
        <ErrorNote error={error} />
        <Field
          label={t('auth.displayName')}
          autoComplete="name"
          required
          maxLength={64}
          value={displayName}
          onChange={(e) => setDisplayName(e.target.value)}
        />
        <Field
          label={t('auth.email')}
          type="email"
          autoComplete="email"
          required
          value={email}
          onChange={(e) => setEmail(e.target.value)}
        />
        <Field
          label={t('auth.password')}
          type="password"
          autoComplete="new-password"
          required
          minLength={10}
          maxLength={256}
          hint={t('auth.register.passwordHint')}
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        <button className="button button-primary" disabled={busy}>
          {t('auth.register.submit')}
        </button>
      </form>
      <p className="auth-links">
        <span>
          {t('auth.register.haveAccount')} <Link to="/login">{t('auth.toLogin')}</Link>
        </span>
      </p>
    </AuthLayout>
  );
}

/** Runs a one-shot token action (from a mail link) once, and shows how it went. */
function TokenScreen({
  title,
  action,
  okText,
}: {
  title: string;
  action: (token: string) => Promise<unknown>;
  okText: string;
}) {
  const { t } = useI18n();
  const [params] = useSearchParams();
  const token = params.get('token');
  const [state, setState] = useState<'working' | 'ok' | { error: unknown }>('working');
  const started = useRef(false);
  useEffect(() => {
    if (!token || started.current) return;
    started.current = true;
    action(token).then(
      () => setState('ok'),
      (error: unknown) => setState({ error }),
    );
  }, [token, action]);
  return (
    <AuthLayout title={title}>
      {!token ? (
        <p className="alert alert-error" role="alert">
          {t('auth.verify.missing')}
        </p>
      ) : state === 'working' ? (
        <p role="status">{t('auth.verify.working')}</p>
      ) : state === 'ok' ? (
        <p className="alert alert-ok" role="status">
          {okText}
        </p>
      ) : (
        <p className="alert alert-error" role="alert">
          {state.error instanceof ApiError &&
          ['validation', 'not_found', 'conflict'].includes(state.error.code)
            ? t('error.token_invalid')
            : errorText(t, state.error)}
        </p>
      )}
      <Link className="button button-secondary" to="/login">
        {t('auth.toLogin')}
      </Link>
    </AuthLayout>
  );
}

export function VerifyEmailScreen() {
  const { t } = useI18n();
  return <TokenScreen title={t('auth.verify.title')} action={auth.verify} okText={t('auth.verify.ok')} />;
}

export function ConfirmEmailScreen() {
  const { t } = useI18n();
  return (
    <TokenScreen
      title={t('auth.verify.title')}
      action={account.confirmEmailChange}
      okText={t('auth.verify.ok')}
    />
  );
}

export function UnsubscribeScreen() {
  const { t } = useI18n();
  return (
    <TokenScreen title={t('unsubscribe.title')} action={account.unsubscribe} okText={t('unsubscribe.ok')} />
  );
}

export function ResetPasswordScreen() {
  const { t } = useI18n();
  const [params] = useSearchParams();
  const token = params.get('token');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [done, setDone] = useState(false);
  const { busy, error, run } = useAction(async () => {
    if (token) await auth.confirmReset(token, password);
    else await auth.requestReset(email.trim());
    setDone(true);
  });
  if (done) {
    return (
      <AuthLayout title={token ? t('auth.resetConfirm.title') : t('auth.reset.title')}>
        <p className="alert alert-ok" role="status">
          {token ? t('auth.resetConfirm.ok') : t('auth.reset.sent', { email })}
        </p>
        <Link className="button button-secondary" to="/login">
          {t('auth.toLogin')}
        </Link>
      </AuthLayout>
    );
  }
  return (
    <AuthLayout title={token ? t('auth.resetConfirm.title') : t('auth.reset.title')}>
      <form
        className="stack"
        onSubmit={(e) => {
          e.preventDefault();
          void run();
        }}
      >
        <ErrorNote error={error} />
        {token ? (
          <Field
            label={t('auth.newPassword')}
            type="password"
            autoComplete="new-password"
            required
            minLength={10}
            hint={t('auth.register.passwordHint')}
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        ) : (
          <>
            <p className="muted">{t('auth.reset.intro')}</p>
            <Field
              label={t('auth.email')}
              type="email"
              autoComplete="email"
              required
              value={email}
              onChange={(e) => setEmail(e.target.value)}
            />
          </>
        )}
        <button className="button button-primary" disabled={busy}>
          {token ? t('auth.resetConfirm.submit') : t('auth.reset.submit')}
        </button>
      </form>
      <p className="auth-links">
        <Link to="/login">{t('auth.toLogin')}</Link>
      </p>
    </AuthLayout>
  );
}
