// Tells the server the browser's time zone (the "bw_tz" cookie), so that pages show times in
// it when the person chose none on their account page. Written only when missing or changed.
(function () {
  "use strict";
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (e) {
    return;
  }
  if (!zone) return;
  var value = encodeURIComponent(zone);
  var current = document.cookie.split("; ").filter(function (c) {
    return c.indexOf("bw_tz=") === 0;
  })[0];
  if (current === "bw_tz=" + value) return;
  var secure = location.protocol === "https:" ? "; Secure" : "";
  document.cookie = "bw_tz=" + value + "; path=/; max-age=31536000; SameSite=Lax" + secure;
})();
