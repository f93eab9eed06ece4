/** The client's entry: providers, routes (the mail links' paths included), and the signed-in gate. */
import { StrictMode, type ReactNode } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter, Navigate, Route, Routes, useLocation } from 'react-router';
import { I18nProvider } from './i18n/index.tsx';
import {
  ConfirmEmailScreen,
  LoginScreen,
  RegisterScreen,
  ResetPasswordScreen,
  UnsubscribeScreen,
  VerifyEmailScreen,
} from './ui/auth.tsx';
import { ChatProvider, SessionProvider, useSession } from './ui/context.tsx';
import { RoomScreen } from './ui/room/room-screen.tsx';
import { LogsScreen } from './ui/logs.tsx';
import { SearchScreen } from './ui/search.tsx';
import { SettingsScreen } from './ui/settings.tsx';
import { HomeScreen, Shell } from './ui/shell.tsx';
import './styles.css';

function SignedIn({ children }: { children: ReactNode }) {
  const session = useSession();
  const location = useLocation();
  if (!session) {
    const next =
      location.pathname === '/' ? '' : `?next=${encodeURIComponent(location.pathname + location.search)}`;
    return <Navigate to={`/login${next}`} replace />;
  }
  return (
    <ChatProvider key={session.userId} userId={session.userId}>
      {children}
    </ChatProvider>
  );
}

function SignedOut({ children }: { children: ReactNode }) {
  return useSession() ? <Navigate to="/" replace /> : children;
}

function App() {
  return (
    <Routes>
      <Route
        path="/login"
        element={
          <SignedOut>
            <LoginScreen />
          </SignedOut>
        }
      />
      <Route
        path="/register"
        element={
          <SignedOut>
            <RegisterScreen />
          </SignedOut>
        }
      />
      <Route path="/verify-email" element={<VerifyEmailScreen />} />
      <Route path="/confirm-email" element={<ConfirmEmailScreen />} />
      <Route path="/reset-password" element={<ResetPasswordScreen />} />
      <Route path="/unsubscribe" element={<UnsubscribeScreen />} />
      <Route
        element={
          <SignedIn>
            <Shell />
          </SignedIn>
        }
      >
        <Route index element={<HomeScreen />} />
        <Route path="/rooms/:roomId" element={<RoomScreen />} />
        <Route path="/search" element={<SearchScreen />} />
        <Route path="/logs" element={<LogsScreen />} />
        <Route path="/logs/:sourceId" element={<LogsScreen />} />
        <Route path="/settings" element={<SettingsScreen />} />
        <Route path="/settings/:section" element={<SettingsScreen />} />
      </Route>
      <Route path="*" element={<Navigate to="/" replace />} />
    </Routes>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <I18nProvider>
      <SessionProvider>
        <BrowserRouter>
          <App />
        </BrowserRouter>
      </SessionProvider>
    </I18nProvider>
  </StrictMode>,
);
