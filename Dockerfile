# Relay image. Node 20 on Debian bookworm: the unofficial uWS build ships a native
# binary for this ABI (modules 115); the relay refuses to start without it.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
ENV NODE_ENV=production PORT=8080
EXPOSE 8080
CMD ["node", "bin/sealrelay.js", "serve"]
