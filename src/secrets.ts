// Every secret strongbox loads is registered here, and everything it prints passes through redact().
const secrets = new Set<string>();

export function registerSecret(value: string): void {
  if (value.length >= 4) secrets.add(value);
}

export function redact(text: string): string {
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join("***");
  // Passwords inside connection URLs, whatever their origin; up to the LAST @ before the path,
  // so an unencoded @ in the password does not leak its tail.
  return (
    out
      .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^\s/]*@/gi, "$1***@")
      // A libpq URL's ?password=…, to the next parameter or the URL's end; a ) or ' that ends the URL stays.
      .replace(/([?&](?:ssl)?password=)[^&#\s"]*?(?=[)']*(?:[&#\s"]|$))/gi, "$1***")
  );
}
