"""Notebook: Flask's tutorial in miniature (log in, upload files, read flashes, download the handbook).

This file exists twice, as examples/notebook/flask_app.py and as examples/notebook/hatchway_app.py.
The two copies differ only in their imports and in the line that constructs the app;
tests/web/test_web_porting.py checks that, then sends the same requests to both and
compares the answers. Run either with its own server:

    flask --app examples/notebook/flask_app.py run
    hatchway 'examples.notebook.hatchway_app:create_app()'      # from the repository root
"""

import functools
import hmac
import os
import tempfile

from hatchway.web import App, Blueprint, abort, flash, g, jsonify, redirect, render_template, request
from hatchway.web import secure_filename, send_from_directory, session, url_for

# A real app keeps password hashes in a database; the tutorial's shape is what matters here.
USERS = {"ada": "lovelace", "grace": "hopper"}
ERRORS = {
    400: "The form was missing something.",
    404: "There is nothing here.",
    405: "That method is not allowed here.",
    413: "That upload is too large.",
}


def create_app(upload_folder=None, secret_key="dev", max_upload=64 * 1024):
    if upload_folder is None:
        upload_folder = os.path.join(tempfile.gettempdir(), "notebook-uploads")
    app = App(__name__, static_folder="static", template_folder="templates")
    app.config.from_mapping(SECRET_KEY=secret_key, UPLOAD_FOLDER=upload_folder, MAX_CONTENT_LENGTH=max_upload)
    os.makedirs(upload_folder, exist_ok=True)

    auth = Blueprint("auth", __name__, url_prefix="/auth")

    @auth.before_app_request
    def load_logged_in_user():
        g.user = session.get("user")

    @auth.route("/login", methods=("GET", "POST"))
    def login():
        if request.method == "POST":
            username = request.form["username"]
            password = request.form["password"]
            expected = USERS.get(username)
            if expected is None or not hmac.compare_digest(expected, password):
                flash("Incorrect username or password.", "error")
                return render_template("auth/login.html", username=username)
            session.clear()
            session["user"] = username
            flash(f"Welcome back, {username}!")
            return redirect(url_for("index"))
        return render_template("auth/login.html", username="")

    @auth.route("/logout")
    def logout():
        session.clear()
        flash("You have been logged out.")
        return redirect(url_for("index"))

    app.register_blueprint(auth)

    def login_required(view):
        @functools.wraps(view)
        def wrapped_view(**kwargs):
            if g.user is None:
                return redirect(url_for("auth.login"))
            return view(**kwargs)

        return wrapped_view

    def uploaded_files():
        return sorted(os.listdir(app.config["UPLOAD_FOLDER"]))

    @app.route("/")
    def index():
        return render_template("index.html", files=uploaded_files(), search=request.args.get("q", ""))

    @app.route("/upload", methods=("GET", "POST"))
    @login_required
    def upload():
        if request.method == "POST":
            file = request.files.get("file")
            if file is None or file.filename == "":
                flash("Choose a file first.", "error")
                return redirect(url_for("upload"))
            name = secure_filename(file.filename)
            if not name:
                flash("That file name cannot be stored.", "error")
                return redirect(url_for("upload"))
            path = os.path.join(app.config["UPLOAD_FOLDER"], name)
            file.save(path)
            note = request.form.get("note", "").strip()
            flash(f"Uploaded {name} ({os.path.getsize(path)} bytes)" + (f": {note}" if note else "."))
            return redirect(url_for("index"))
        return render_template("upload.html")

    @app.route("/uploads/<path:name>")
    @login_required
    def uploaded(name):
        return send_from_directory(app.config["UPLOAD_FOLDER"], name)

    @app.route("/handbook")
    def handbook():
        return send_from_directory("files", "handbook.txt", as_attachment=True, download_name="Notebook handbook.txt")

    @app.route("/api/me")
    def me():
        return jsonify(user=g.user, files=len(uploaded_files()) if g.user else None)

    @app.route("/admin")
    def admin():
        if g.user != "grace":
            abort(404)
        return render_template("index.html", files=uploaded_files(), search="admin")

    def error_page(e):
        return render_template("error.html", code=e.code, message=ERRORS[e.code]), e.code

    for code in ERRORS:
        app.register_error_handler(code, error_page)

    return app
