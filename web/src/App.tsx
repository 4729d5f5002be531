// The shell: a skip link, the navigation, the language switch and the session, then the page
// the URL's fragment names. Signed out, only sign in and sign up are reachable.
import { lazy, Suspense, useEffect, type ComponentType } from "react";
import { useSession } from "./api/session";
import { useLanguage, useT, type Language } from "./i18n";
import { SignIn, SignUp, signOut } from "./pages/Auth";
import { TranslatePage } from "./pages/Translate";
import { href, navigate, useRoute, type Route } from "./router";

type Page = Exclude<Route, "signin" | "signup">;

const NAV: { route: Page; label: Parameters<ReturnType<typeof useT>>[0] }[] = [
  { route: "translate", label: "nav.translate" },
  { route: "chat", label: "nav.chat" },
  { route: "tasks", label: "nav.tasks" },
  { route: "speech", label: "nav.speech" },
  { route: "voice", label: "nav.voice" },
  { route: "meetings", label: "nav.meetings" },
  { route: "kinect", label: "nav.kinect" },
  { route: "vision", label: "nav.vision" },
  { route: "admin", label: "nav.admin" },
];

// The landing page comes with the shell; every other page (and the generated client of the
// services only it calls) is a chunk of its own, fetched the first time it is opened.
const PAGES: Record<Page, ComponentType> = {
  translate: TranslatePage,
  chat: lazy(() => import("./pages/Chat").then((m) => ({ default: m.ChatPage }))),
  tasks: lazy(() => import("./pages/Tasks").then((m) => ({ default: m.TasksPage }))),
  speech: lazy(() => import("./pages/Speech").then((m) => ({ default: m.SpeechPage }))),
  voice: lazy(() => import("./pages/VoiceChat").then((m) => ({ default: m.VoiceChatPage }))),
  meetings: lazy(() => import("./pages/Meetings").then((m) => ({ default: m.MeetingsPage }))),
  admin: lazy(() => import("./pages/Admin").then((m) => ({ default: m.AdminPage }))),
  kinect: lazy(() => import("./pages/Kinect").then((m) => ({ default: m.KinectPage }))),
  vision: lazy(() => import("./pages/Vision").then((m) => ({ default: m.VisionPage }))),
};

function LanguageSwitch() {
  const { language, setLanguage, t } = useLanguage();
  return (
    <label className="language">
      <span className="visually-hidden">{t("app.language")}</span>
      <select
        value={language}
        data-testid="language"
        aria-label={t("app.language")}
        onChange={(e) => setLanguage(e.target.value as Language)}
      >
        <option value="es">Español</option>
        <option value="en">English</option>
      </select>
    </label>
  );
}

export function App() {
  const t = useT();
  const session = useSession();
  const route = useRoute();
  const signedIn = session !== null;
  const publicRoute = route === "signin" || route === "signup";

  useEffect(() => {
    if (!signedIn && !publicRoute) navigate("signin");
    else if (signedIn && (publicRoute || route === null)) navigate("translate");
  }, [signedIn, publicRoute, route]);

  const Page = signedIn && route && !publicRoute ? PAGES[route] : null;

  return (
    <>
      <a
        className="skip"
        href="#content"
        onClick={(e) => {
          e.preventDefault();
          document.getElementById("content")?.focus();
        }}
      >
        {t("app.skip")}
      </a>
      <header className="top">
        <a className="brand" href={href(signedIn ? "translate" : "signin")}>
          {t("app.name")}
        </a>
        {signedIn && (
          <nav aria-label={t("app.menu")}>
            <ul>
              {NAV.map((item) => (
                <li key={item.route}>
                  <a
                    href={href(item.route)}
                    data-testid={`nav-${item.route}`}
                    aria-current={route === item.route ? "page" : undefined}
                  >
                    {t(item.label)}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
        )}
        <div className="session">
          <LanguageSwitch />
          {signedIn && (
            <>
              <span className="muted" data-testid="signed-in-as">
                {t("auth.signedInAs", { name: session.user.displayName })}
              </span>
              <button type="button" data-testid="signout" onClick={() => void signOut(session.refreshToken)}>
                {t("auth.signOut")}
              </button>
            </>
          )}
        </div>
      </header>
      <main id="content" tabIndex={-1}>
        {route === "signin" && !signedIn && <SignIn />}
        {route === "signup" && !signedIn && <SignUp />}
        {Page && (
          <Suspense
            fallback={
              <p className="muted" aria-busy="true">
                …
              </p>
            }
          >
            <Page />
          </Suspense>
        )}
      </main>
    </>
  );
}
