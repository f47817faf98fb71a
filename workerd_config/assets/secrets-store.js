// env.SECRET for [[secrets_store_secrets]] (shim/secrets_store/kind.py): get() fetches the
// secret's AES-256-GCM ciphertext from the shim and decrypts it with the install's key, which
// workerd holds in its environment like any other secret (the shim never sees it).
function bytes(hexOrBase64, base64) {
  if (base64) return Uint8Array.from(atob(hexOrBase64), (c) => c.charCodeAt(0));
  return Uint8Array.from(hexOrBase64.match(/../g), (h) => parseInt(h, 16));
}

class SecretsStoreSecret {
  #env;

  constructor(env) {
    this.#env = env;
  }

  async get() {
    const { fetcher, store_id, secret_name, key } = this.#env;
    const response = await fetcher.fetch(`http://secrets/secrets/${encodeURIComponent(secret_name)}`);
    if (response.status === 404) throw new Error(`Secret "${secret_name}" not found`);
    if (!response.ok) throw new Error(`Secret "${secret_name}" could not be read: ${await response.text()}`);
    const sealed = await response.json();
    const cryptoKey = await crypto.subtle.importKey("raw", bytes(key), "AES-GCM", false, ["decrypt"]);
    const plain = await crypto.subtle.decrypt(
      {
        name: "AES-GCM",
        iv: bytes(sealed.nonce, true),
        additionalData: new TextEncoder().encode(`${store_id}/${secret_name}`),
      },
      cryptoKey,
      bytes(sealed.value, true),
    );
    return new TextDecoder().decode(plain);
  }
}

export default function (env) {
  return new SecretsStoreSecret(env);
}
